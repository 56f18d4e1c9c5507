#include "core/cls_call.h"

#include <spdlog/spdlog.h>

#include "core/cls_rbd.h"

namespace rbdfs::core::detail {

namespace {
struct Then {
  std::function<void(int)> done;
  librados::AioCompletion* completion = nullptr;
};
void then_complete(librados::completion_t, void* arg) {
  auto* t = static_cast<Then*>(arg);
  int r = t->completion->get_return_value();
  t->completion->release();
  auto done = std::move(t->done);
  delete t;
  done(r);
}
}  // namespace

void aio_operate_then(librados::IoCtx& io, const std::string& oid,
                      librados::ObjectWriteOperation* op, std::function<void(int)> done) {
  auto* t = new Then{std::move(done)};
  t->completion = librados::Rados::aio_create_completion(t, &then_complete);
  int r = io.aio_operate(oid, t->completion, op);
  if (r < 0) {  // never completes
    t->completion->release();
    auto d = std::move(t->done);
    delete t;
    d(r);
  }
}

using librados::bufferlist;

bufferlist to_bl(const std::string& s) {
  bufferlist bl;
  bl.append(s.data(), static_cast<unsigned>(s.size()));
  return bl;
}

std::string_view view(const bufferlist& bl) {
  return {const_cast<bufferlist&>(bl).c_str(), bl.length()};
}

Status cls_exec(librados::IoCtx& io, const std::string& oid, const char* method,
                const std::string& in, bufferlist* out) {
  return cls_exec_in(io, oid, "rbd", method, in, out);
}

Status cls_exec_in(librados::IoCtx& io, const std::string& oid, const char* cls, const char* method,
                   const std::string& in, bufferlist* out) {
  bufferlist tmp;
  bufferlist inbl = to_bl(in);
  return status_from_rados(io.exec(oid, cls, method, inbl, out ? *out : tmp));
}

Status cls_write(librados::IoCtx& io, const std::string& oid, const char* method,
                 const std::string& in, bool create) {
  librados::ObjectWriteOperation op;
  if (create) op.create(true);
  bufferlist inbl = to_bl(in);
  op.exec("rbd", method, inbl);
  return status_from_rados(io.operate(oid, &op));
}

Result<std::string> image_id(librados::IoCtx& io, const std::string& pool,
                             const std::string& name) {
  bufferlist reply;
  RBDFS_TRY(cls_exec(io, "rbd_id." + name, "get_id", "", &reply));
  auto id = cls::dec_string(view(reply));
  if (!id.ok() || id->empty()) {
    spdlog::error("image {}/{}: malformed id object", pool, name);
    return Errno(EIO);
  }
  return *id;
}

}  // namespace rbdfs::core::detail
