#include "core/exclusive_lock.h"

#include <spdlog/spdlog.h>

#include "core/cls_call.h"

namespace rbdfs::core {

Result<cls_lock::LockInfo> read_lock_info(librados::IoCtx& md, const std::string& header_oid) {
  librados::bufferlist out;
  RBDFS_TRY(detail::cls_exec_in(md, header_oid, "lock", "get_info",
                                cls_lock::enc_get_info(cls_lock::RBD_LOCK_NAME), &out));
  return detail::decoded(cls_lock::dec_lock_info(detail::view(out)), "lock get_info", header_oid);
}

}  // namespace rbdfs::core
