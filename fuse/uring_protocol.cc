#include "fuse/uring_protocol.h"

#include <algorithm>
#include <cstring>

namespace rbdfs::ll::uring {
namespace {

// fuse_init_out: the offsets of the fields used here, and the size libfuse
// 3.14 sends for protocol minor 23 and later.
constexpr size_t INIT_MAJOR = 0, INIT_FLAGS = 12, INIT_MAX_WRITE = 20, INIT_MAX_PAGES = 28,
                 INIT_FLAGS2 = 32, INIT_SIZE = 64;
constexpr uint32_t FLAG_INIT_EXT = 1u << 30;
constexpr uint32_t FLAG2_OVER_IO_URING = 1u << (41 - 32);

template <typename T>
T get(const std::vector<char>& b, size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}
template <typename T>
void put(std::vector<char>* b, size_t at, T v) {
  std::memcpy(b->data() + at, &v, sizeof v);
}

bool parse_uint(const std::string& s, unsigned* out) {
  if (s.empty() || s.size() > 6 || !std::all_of(s.begin(), s.end(), ::isdigit)) return false;
  *out = static_cast<unsigned>(std::stoul(s));
  return true;
}

}  // namespace

unsigned queues_from_cpu_list(const std::string& text) {
  std::string list = text;
  while (!list.empty() && (list.back() == '\n' || list.back() == ' ')) list.pop_back();
  if (list.empty()) return 0;
  unsigned count = 0;
  size_t pos = 0;
  for (;;) {
    const size_t comma = list.find(',', pos);
    const std::string part =
        list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    const size_t dash = part.find('-');
    unsigned a, b;
    if (!parse_uint(part.substr(0, dash), &a)) return 0;
    if (dash == std::string::npos) {
      b = a;
    } else if (!parse_uint(part.substr(dash + 1), &b) || b < a) {
      return 0;
    }
    count += b - a + 1;
    if (comma == std::string::npos) return count;
    pos = comma + 1;
  }
}

bool offer_ring(std::vector<char>* init_out, size_t page, size_t* payload) {
  if (init_out->size() < INIT_SIZE || get<uint32_t>(*init_out, INIT_MAJOR) != 7) return false;
  const uint32_t max_write = get<uint32_t>(*init_out, INIT_MAX_WRITE);
  const uint16_t max_pages = get<uint16_t>(*init_out, INIT_MAX_PAGES);
  *payload = std::max<size_t>({8192, max_write, size_t{max_pages} * page});
  put(init_out, INIT_FLAGS, get<uint32_t>(*init_out, INIT_FLAGS) | FLAG_INIT_EXT);
  put(init_out, INIT_FLAGS2, get<uint32_t>(*init_out, INIT_FLAGS2) | FLAG2_OVER_IO_URING);
  return true;
}

unsigned entries_per_queue(unsigned want, unsigned queues, size_t payload, size_t budget) {
  if (queues == 0 || payload == 0) return 0;
  const size_t fit = budget / (size_t{queues} * payload);
  return static_cast<unsigned>(std::max<size_t>(2, std::min<size_t>(want, fit)));
}

bool request_layout(const InHeader& in, uint32_t payload_sz, size_t* op_len) {
  if (in.len < sizeof(InHeader) + payload_sz) return false;
  const size_t op = in.len - sizeof(InHeader) - payload_sz;
  if (op > sizeof(ReqHeader::op_in)) return false;
  *op_len = op;
  return true;
}

}  // namespace rbdfs::ll::uring
