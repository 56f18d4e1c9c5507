// libfuse low-level callbacks: one-line adapters into Filesystem. No
// exception crosses into libfuse: each adapter catches, logs one line and
// replies EIO (ENOMEM for bad_alloc). Requests that never get a reply from
// an exception path would hang the caller, so the guard always replies.
#include "fuse/ops.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <new>

namespace rbdfs::ll {

namespace {

Filesystem* fs_of(fuse_req_t req) { return static_cast<Filesystem*>(fuse_req_userdata(req)); }

template <typename F>
void guard(fuse_req_t req, const char* op, F&& f) {
  try {
    f(fs_of(req));
  } catch (const std::bad_alloc&) {
    spdlog::error("{}: out of memory", op);
    fuse_reply_err(req, ENOMEM);
  } catch (const std::exception& e) {
    spdlog::error("{}: unexpected exception: {}", op, e.what());
    fuse_reply_err(req, EIO);
  } catch (...) {
    spdlog::error("{}: unexpected exception", op);
    fuse_reply_err(req, EIO);
  }
}

void op_init(void* userdata, fuse_conn_info* conn) {
  static_cast<Filesystem*>(userdata)->init(conn);
}
void op_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  guard(req, "lookup", [&](Filesystem* fs) { fs->lookup(req, parent, name); });
}
void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n) {
  fs_of(req)->forget(ino, n);
  fuse_reply_none(req);
}
void op_forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  for (size_t i = 0; i < count; ++i) fs_of(req)->forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}
void op_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  guard(req, "getattr", [&](Filesystem* fs) { fs->getattr(req, ino, fi); });
}
void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info* fi) {
  guard(req, "setattr", [&](Filesystem* fs) { fs->setattr(req, ino, attr, to_set, fi); });
}
void op_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  guard(req, "opendir", [&](Filesystem* fs) { fs->opendir(req, ino, fi); });
}
void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  guard(req, "readdir", [&](Filesystem* fs) { fs->readdir(req, ino, size, off, fi); });
}
void op_releasedir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  guard(req, "releasedir", [&](Filesystem* fs) { fs->releasedir(req, ino, fi); });
}
void op_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  guard(req, "open", [&](Filesystem* fs) { fs->open(req, ino, fi); });
}
void op_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
               fuse_file_info* fi) {
  guard(req, "create", [&](Filesystem* fs) { fs->create(req, parent, name, mode, fi); });
}
void op_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t) {
  guard(req, "mknod", [&](Filesystem* fs) { fs->mknod(req, parent, name, mode); });
}
void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi) {
  guard(req, "read", [&](Filesystem* fs) { fs->read(req, ino, size, off, fi); });
}
void op_write_buf(fuse_req_t req, fuse_ino_t ino, fuse_bufvec* bufv, off_t off,
                  fuse_file_info* fi) {
  guard(req, "write", [&](Filesystem* fs) { fs->write(req, ino, bufv, off, fi); });
}
void op_flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  guard(req, "flush", [&](Filesystem* fs) { fs->flush(req, ino, fi); });
}
void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi) {
  guard(req, "fsync", [&](Filesystem* fs) { fs->fsync(req, ino, datasync, fi); });
}
void op_release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  guard(req, "release", [&](Filesystem* fs) { fs->release(req, ino, fi); });
}
void op_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  guard(req, "unlink", [&](Filesystem* fs) { fs->unlink(req, parent, name); });
}
void op_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t newparent,
               const char* newname, unsigned flags) {
  guard(req, "rename",
        [&](Filesystem* fs) { fs->rename(req, parent, name, newparent, newname, flags); });
}
void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                  fuse_file_info* fi) {
  guard(req, "fallocate", [&](Filesystem* fs) { fs->fallocate(req, ino, mode, off, len, fi); });
}
void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, fuse_file_info* fi) {
  guard(req, "lseek", [&](Filesystem* fs) { fs->lseek(req, ino, off, whence, fi); });
}
void op_statfs(fuse_req_t req, fuse_ino_t ino) {
  guard(req, "statfs", [&](Filesystem* fs) { fs->statfs(req, ino); });
}
void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) {
  guard(req, "getxattr", [&](Filesystem* fs) { fs->getxattr(req, ino, name, size); });
}
void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) {
  guard(req, "listxattr", [&](Filesystem* fs) { fs->listxattr(req, ino, size); });
}
void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char*, size_t, int) {
  guard(req, "setxattr", [&](Filesystem* fs) { fs->setxattr(req, ino, name); });
}
void op_removexattr(fuse_req_t req, fuse_ino_t, const char* name) {
  // the user.rbd* attributes are read-only; rbdfs has no others
  fuse_reply_err(req, std::strncmp(name, "user.rbd", 8) == 0 ? EPERM : EOPNOTSUPP);
}
void op_copy_file_range(fuse_req_t req, fuse_ino_t, off_t off_in, fuse_file_info* fi_in, fuse_ino_t,
                        off_t off_out, fuse_file_info* fi_out, size_t len, int flags) {
  guard(req, "copy_file_range", [&](Filesystem* fs) {
    fs->copy_file_range(req, fi_in, off_in, fi_out, off_out, len, flags);
  });
}
void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  guard(req, "mkdir", [&](Filesystem* fs) { fs->mkdir(req, parent, name, mode); });
}
void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  guard(req, "rmdir", [&](Filesystem* fs) { fs->rmdir(req, parent, name); });
}
void op_symlink(fuse_req_t req, const char*, fuse_ino_t, const char*) {
  fuse_reply_err(req, EPERM);
}
void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char* newname) {
  guard(req, "link", [&](Filesystem* fs) { fs->link(req, ino, newparent, newname); });
}

}  // namespace

fuse_lowlevel_ops make_operations() {
  fuse_lowlevel_ops ops{};
  ops.init = op_init;
  ops.lookup = op_lookup;
  ops.forget = op_forget;
  ops.forget_multi = op_forget_multi;
  ops.getattr = op_getattr;
  ops.setattr = op_setattr;
  ops.opendir = op_opendir;
  ops.readdir = op_readdir;
  ops.releasedir = op_releasedir;
  ops.open = op_open;
  ops.create = op_create;
  ops.mknod = op_mknod;
  ops.read = op_read;
  ops.write_buf = op_write_buf;
  ops.flush = op_flush;
  ops.fsync = op_fsync;
  ops.release = op_release;
  ops.unlink = op_unlink;
  ops.rename = op_rename;
  ops.fallocate = op_fallocate;
  ops.lseek = op_lseek;
  ops.statfs = op_statfs;
  ops.getxattr = op_getxattr;
  ops.listxattr = op_listxattr;
  ops.setxattr = op_setxattr;
  ops.removexattr = op_removexattr;
  ops.copy_file_range = op_copy_file_range;
  ops.mkdir = op_mkdir;
  ops.rmdir = op_rmdir;
  ops.symlink = op_symlink;
  ops.link = op_link;
  return ops;
}

}  // namespace rbdfs::ll
