// The exclusive lock of an image (EXCLUSIVE_LOCK feature), as librbd and
// krbd take it: cls "lock" named rbd_lock on rbd_header.<id>, tag
// "internal", cookie "auto <watch handle>" (reference §1).
//
// So far: reading who holds it. Taking, keeping and giving it up (the
// state machine of issue 11) build on this.
#pragma once

#include <rados/librados.hpp>

#include <string>

#include "core/cls_lock.h"
#include "core/result.h"

namespace rbdfs::core {

// get_info("rbd_lock") on the header; no lockers when nobody holds it.
Result<cls_lock::LockInfo> read_lock_info(librados::IoCtx& md, const std::string& header_oid);

}  // namespace rbdfs::core
