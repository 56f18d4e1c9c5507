// Calling cls "rbd" methods: the few librados plumbing helpers that
// image.cc and pool.cc share. Internal to core/.
#pragma once

#include <rados/librados.hpp>
#include <spdlog/spdlog.h>

#include <functional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace rbdfs::core::detail {

librados::bufferlist to_bl(const std::string& s);
// cls replies are small; c_str() makes them contiguous.
std::string_view view(const librados::bufferlist& bl);

// One cls "rbd" method call on `oid` (a read or a write, as the method is).
Status cls_exec(librados::IoCtx& io, const std::string& oid, const char* method,
                const std::string& in, librados::bufferlist* out = nullptr);
// The same for a method of another class (e.g. "lock").
Status cls_exec_in(librados::IoCtx& io, const std::string& oid, const char* cls, const char* method,
                   const std::string& in, librados::bufferlist* out = nullptr);
// Sends `op` to `oid` and runs `done(r)` when RADOS answers (on a librados
// thread), or at once with the error when it cannot be sent.
void aio_operate_then(librados::IoCtx& io, const std::string& oid,
                      librados::ObjectWriteOperation* op, std::function<void(int)> done);

// A cls "rbd" write; with `create`, the object must not exist yet.
Status cls_write(librados::IoCtx& io, const std::string& oid, const char* method,
                 const std::string& in, bool create = false);

// Passes a decoder's result through, logging a malformed reply once.
template <typename T>
Result<T> decoded(Result<T> r, const char* what, const std::string& oid) {
  if (!r.ok()) spdlog::error("malformed {} reply from {}: treating as EIO", what, oid);
  return r;
}

// Image name -> id through rbd_id.<name> (ENOENT: no such image; EIO and
// one log line for a malformed id object).
Result<std::string> image_id(librados::IoCtx& io, const std::string& pool, const std::string& name);

}  // namespace rbdfs::core::detail
