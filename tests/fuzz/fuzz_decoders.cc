// libFuzzer target: every reply decoder (cls "rbd", cls "lock", notify
// messages, the object map) on arbitrary bytes. The
// first byte picks the decoder. Built with ASan/UBSan by tools/check and run
// for a bounded time; a crash or out-of-bounds read fails the test.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/cls_lock.h"
#include "core/cls_rbd.h"
#include "core/notify_message.h"
#include "core/object_map_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  using namespace rbdfs::core::cls;
  switch (data[0] % 18) {
    case 0:
      (void)dec_string_map(in);
      break;
    case 1:
      (void)dec_string(in);
      break;
    case 2:
      (void)dec_size(in);
      break;
    case 3:
      (void)dec_features(in);
      break;
    case 4:
      (void)dec_stripe(in);
      break;
    case 5:
      (void)dec_snapcontext(in);
      break;
    case 6:
      (void)dec_snapshot_info(in);
      break;
    case 7:
      (void)dec_parent(in);
      (void)dec_optional_u64(in);
      break;
    case 8:
      (void)dec_i64(in);
      break;
    case 9:
      (void)dec_utime(in);
      break;
    case 10:
      (void)dec_trash_spec(in);
      break;
    case 11:
      (void)dec_trash_list(in);
      (void)dec_string_list(in);
      break;
    case 12:
      (void)rbdfs::cls_lock::dec_lock_info(in);
      break;
    case 13:
      (void)rbdfs::notify::dec_message(in);
      break;
    case 14:
      (void)rbdfs::notify::dec_notify_reply(in);
      break;
    case 15:
      (void)rbdfs::notify::dec_response(in);
      break;
    case 16:
      if (auto m = rbdfs::object_map::decode(in); m.ok())
        (void)m->get(m->size() ? m->size() - 1 : 0);
      break;
    default:
      (void)dec_u8(in);
      break;
  }
  return 0;
}
