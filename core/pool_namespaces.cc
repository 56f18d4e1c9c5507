// RBD namespaces of a pool (reference §5), as `rbd namespace` manages them:
// the registry is rbd_namespace in the pool's default namespace; each
// namespace has its own rbd_directory, whose state says whether images may
// be added.
#include "core/pool.h"

#include "core/rados.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/cls_call.h"
#include "core/names.h"

namespace rbdfs::core {

using detail::cls_exec;
using detail::to_bl;
using detail::view;
using librados::bufferlist;

namespace {

constexpr const char* RBD_NAMESPACE = "rbd_namespace";

// A namespace's own ioctx.
librados::IoCtx in_namespace(librados::IoCtx& io, const std::string& ns) {
  librados::IoCtx out;
  out.dup(io);
  out.set_namespace(ns);
  return out;
}

}  // namespace

Result<std::vector<std::string>> Pool::list_namespaces() {
  if (!m_ns.empty()) return Errno(EINVAL);
  std::vector<std::string> out;
  std::string start;
  const uint64_t page = 1024;
  for (;;) {
    bufferlist reply;
    Status s =
        cls_exec(m_io->io, RBD_NAMESPACE, "namespace_list", cls::enc_dir_list(start, page), &reply);
    if (!s.ok()) {
      // no registry yet, or an OSD older than Nautilus: no namespaces
      if (s.error() == ENOENT || s.error() == EOPNOTSUPP) return out;
      return s.err();
    }
    auto names =
        detail::decoded(cls::dec_string_list(view(reply)), "namespace_list", RBD_NAMESPACE);
    if (!names.ok()) return names.err();
    for (auto& n : *names) out.push_back(std::move(n));
    if (names->size() < page) break;
    start = out.back();
  }
  return out;
}

Status Pool::create_namespace(const std::string& ns) {
  if (!m_ns.empty() || !valid_rbd_name(ns)) return Errno(EINVAL);
  // As librbd's Namespace::create: the registry, then the namespace's
  // directory in state READY; the registry entry goes again on failure.
  RBDFS_TRY(cls_exec(m_io->io, RBD_NAMESPACE, "namespace_add", cls::enc_string(ns)));
  librados::IoCtx io = in_namespace(m_io->io, ns);
  Status s = cls_exec(io, RBD_DIRECTORY, "dir_state_set", cls::enc_u8(cls::DIR_STATE_READY));
  if (!s.ok()) {
    spdlog::error("pool {}: creating namespace {} failed: {}", m_name, ns, s.err().message());
    (void)cls_exec(m_io->io, RBD_NAMESPACE, "namespace_remove", cls::enc_string(ns));
    return s;
  }
  spdlog::info("pool {}: created namespace {}", m_name, ns);
  return {};
}

Status Pool::namespace_ready() {
  if (m_ns.empty()) return {};
  return cls_exec(m_io->io, RBD_DIRECTORY, "dir_state_assert", cls::enc_u8(cls::DIR_STATE_READY));
}

Status Pool::remove_namespace(const std::string& ns) {
  if (!m_ns.empty() || !valid_rbd_name(ns)) return Errno(EINVAL);
  auto all = list_namespaces();
  if (!all.ok()) return all.err();
  if (std::find(all->begin(), all->end(), ns) == all->end()) return Errno(ENOENT);
  // As librbd's Namespace::remove: close the directory to new images and
  // remove it in one operation (EBUSY while it lists images), then the
  // trash must be empty, then the namespace's other objects and its entry.
  librados::IoCtx io = in_namespace(m_io->io, ns);
  librados::ObjectWriteOperation op;
  bufferlist disabled = to_bl(cls::enc_u8(cls::DIR_STATE_ADD_DISABLED));
  op.exec("rbd", "dir_state_set", disabled);
  op.remove();
  int r = io.operate(RBD_DIRECTORY, &op);
  if (r == -EBUSY) return Errno(ENOTEMPTY);
  if (r < 0 && r != -ENOENT) return Errno::from_rados(r);
  auto reopen = [&] {
    (void)cls_exec(io, RBD_DIRECTORY, "dir_state_set", cls::enc_u8(cls::DIR_STATE_READY));
  };
  auto pool = Pool::open(m_cluster, m_io->io.get_pool_name(), ns);
  auto trash = pool.ok() ? (*pool)->trash_list()
                         : Result<std::vector<std::pair<std::string, cls::TrashSpec>>>(pool.err());
  if (!trash.ok() || !trash->empty()) {
    reopen();
    return trash.ok() ? Status(Errno(ENOTEMPTY)) : Status(trash.err());
  }
  for (const char* oid : {"rbd_children", "rbd_group_directory", "rbd_info", "rbd_mirroring",
                          "rbd_task", "rbd_trash"}) {
    r = io.remove(oid);
    if (r < 0 && r != -ENOENT) {
      reopen();
      return Errno::from_rados(r);
    }
  }
  RBDFS_TRY(cls_exec(m_io->io, RBD_NAMESPACE, "namespace_remove", cls::enc_string(ns)));
  spdlog::info("pool {}: removed namespace {}", m_name, ns);
  return {};
}

}  // namespace rbdfs::core
