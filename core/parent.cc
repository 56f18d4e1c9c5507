#include "core/parent.h"

#include "core/rados.h"

#include <spdlog/spdlog.h>

#include "core/cls_call.h"
#include "core/image_impl.h"
#include "core/names.h"

namespace rbdfs::core {

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
  // the parent's name, for the log only
  std::string name = spec.image_id;
  librados::bufferlist in = detail::to_bl(cls::enc_string(spec.image_id)), out;
  if (io->exec(RBD_DIRECTORY, "rbd", "dir_get_name", in, out) == 0) {
    if (auto n = cls::dec_string(detail::view(out)); n.ok()) name = *n;
  }
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

}  // namespace rbdfs::core
