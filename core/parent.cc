#include "core/parent.h"

#include "core/rados.h"

#include <spdlog/spdlog.h>

#include "core/features.h"

#include "core/cls_call.h"
#include "core/image_impl.h"
#include "core/names.h"

namespace rbdfs::core {

using detail::cls_exec;
using detail::view;
using librados::bufferlist;

namespace {
// An image's name from its id (rbd_directory), or the id when it has none.
std::string image_name(librados::IoCtx& io, const std::string& id) {
  librados::bufferlist in = detail::to_bl(cls::enc_string(id)), out;
  if (io.exec(RBD_DIRECTORY, "rbd", "dir_get_name", in, out) == 0) {
    if (auto n = cls::dec_string(detail::view(out)); n.ok()) return *n;
  }
  return id;
}
}  // namespace

Result<std::shared_ptr<ImageImpl>> open_parent(const std::shared_ptr<Cluster>& cluster,
                                               const cls::ParentSpec& spec,
                                               const std::string& child) {
  const std::string key = "parent/" + std::to_string(spec.pool_id) + "/" + spec.pool_namespace +
                          "/" + spec.image_id + "@" + std::to_string(spec.snap_id);
  if (auto live = cluster->find_shared(key)) return std::static_pointer_cast<ImageImpl>(live);

  std::string pool;
  int r = rados(*cluster).pool_reverse_lookup(spec.pool_id, &pool);
  if (r < 0) {
    spdlog::error("image {}: parent pool {} not found: {}", child, spec.pool_id, strerror(-r));
    return Errno::from_rados(r);
  }
  auto io = open_ioctx(*cluster, spec.pool_id);
  if (!io.ok()) return io.err();
  io->set_namespace(spec.pool_namespace);
  const std::string name = image_name(*io, spec.image_id);  // for the log only
  Image::OpenOptions o;
  o.read_only = true;
  o.watch = false;  // a snapshot does not change
  o.id = spec.image_id;
  auto img = ImageImpl::open(cluster, std::move(*io), pool, name, o);
  if (!img.ok()) {
    spdlog::error("image {}: cannot open its parent {}/{}: {}", child, pool, name,
                  img.err().message());
    return img.err();
  }
  if (!(*img)->header()->size_at(spec.snap_id).ok()) {
    spdlog::error("image {}: its parent {}/{} has no snapshot {}", child, pool, name, spec.snap_id);
    return Errno(ENOENT);
  }
  return std::static_pointer_cast<ImageImpl>(cluster->share(key, *img));
}

Status detach_from_parent(const std::shared_ptr<Cluster>& cluster, librados::IoCtx& child_md,
                          const ImageHeader& child) {
  const cls::ParentSpec& ps = child.parent;
  bufferlist out;
  // only a read op_features says v1 or v2 (a guess would leak the record)
  RBDFS_TRY(cls_exec(child_md, header_object(child.id), "op_features_get", "", &out));
  auto f = cls::dec_u64(view(out));
  if (!f.ok()) return f.err();
  const uint64_t op_features = *f;
  if (!(op_features & cls::OP_FEATURE_CLONE_CHILD)) {  // v1
    Status s =
        cls_exec(child_md, cls::RBD_CHILDREN, "remove_child", cls::enc_remove_child(ps, child.id));
    return s.ok() || s.error() == ENOENT ? Status() : s;
  }
  auto pio = open_ioctx(*cluster, ps.pool_id);
  if (!pio.ok()) return pio.error() == ENOENT ? Status() : Status(pio.err());
  pio->set_namespace(ps.pool_namespace);
  Status s = cls_exec(
      *pio, header_object(ps.image_id), "child_detach",
      cls::enc_child_attach(ps.snap_id, child_md.get_id(), child.id, child_md.get_namespace()));
  if (!s.ok() && s.error() != ENOENT) return s;
  // The parent snapshot, removed while it still had clones, waits in the
  // snapshot trash for the last of them: gone with it now (the parent is
  // opened only then, as librbd's DetachChildRequest looks first).
  bufferlist sin = detail::to_bl(cls::enc_snap_id(ps.snap_id)), sout;
  if (pio->exec(header_object(ps.image_id), "rbd", "snapshot_get", sin, sout) < 0) return {};
  auto si = cls::dec_snapshot_info(view(sout));
  if (!si.ok() || si->ns_type != cls::SNAP_NS_TRASH || si->child_count != 0) return {};
  std::string pool_name;
  if (rados(*cluster).pool_reverse_lookup(ps.pool_id, &pool_name) < 0) return {};
  Image::OpenOptions o;
  o.id = ps.image_id;
  auto parent = ImageImpl::open(cluster, std::move(*pio), pool_name, ps.image_id, o);
  if (!parent.ok()) return {};
  const cls::SnapshotInfo* snap = (*parent)->header()->find_snap_id(ps.snap_id);
  if (snap && snap->ns_type == cls::SNAP_NS_TRASH && snap->child_count == 0) {
    Status r = (*parent)->snap_remove_trashed(ps.snap_id);
    if (!r.ok())
      spdlog::warn("image {}/{}: removing the trashed snapshot {} of its parent {} failed: {}",
                   child.pool, child.name, ps.snap_id, ps.image_id, r.err().message());
  }
  return {};
}

Result<std::string> parent_name(Cluster& cluster, const cls::ParentSpec& spec) {
  if (!spec.exists()) return std::string();
  std::string pool;
  int r = rados(cluster).pool_reverse_lookup(spec.pool_id, &pool);
  if (r < 0) return Errno::from_rados(r);
  auto io = open_ioctx(cluster, spec.pool_id);
  if (!io.ok()) return io.err();
  io->set_namespace(spec.pool_namespace);
  const std::string name = image_name(*io, spec.image_id);
  std::string snap = std::to_string(spec.snap_id);
  librados::bufferlist sin = detail::to_bl(cls::enc_snap_id(spec.snap_id)), sout;
  if (io->exec(header_object(spec.image_id), "rbd", "snapshot_get", sin, sout) == 0) {
    if (auto si = cls::dec_snapshot_info(detail::view(sout)); si.ok()) snap = si->name;
  }
  return pool + "/" + (spec.pool_namespace.empty() ? "" : spec.pool_namespace + "/") + name + "@" +
         snap;
}

}  // namespace rbdfs::core
