// Pool: image-level administration of one RBD pool (list, create, remove,
// rename, trash), as `rbd` does it, with cls "rbd" calls on rbd_directory,
// rbd_id.<name>, rbd_header.<id> and rbd_trash. Stateless apart from the
// ioctx; thread-safe.
#pragma once

#include <rados/librados.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/cls_rbd.h"
#include "core/cluster.h"
#include "core/image.h"
#include "core/result.h"

namespace rbdfs::core {

struct CreateSpec {
  uint64_t size = 0;
  uint8_t order = 22;
  uint64_t features = 1;  // layering
  uint64_t stripe_unit = 0;
  uint64_t stripe_count = 0;
  int64_t data_pool_id = -1;  // data objects in another pool (DATA_POOL)
};

class Pool {
 public:
  // ENOENT when the pool does not exist.
  static Result<std::shared_ptr<Pool>> open(std::shared_ptr<Cluster> cluster,
                                            const std::string& name);

  const std::string& name() const { return m_name; }
  librados::IoCtx& ioctx() { return m_io; }

  // (name, id) pairs, sorted by name; pages through dir_list. A pool
  // without rbd_directory has no images.
  Result<std::vector<std::pair<std::string, std::string>>> list_images(uint64_t page_size = 1024);
  // name -> id via rbd_id.<name>; ENOENT when absent.
  Result<std::string> image_id(const std::string& name);

  Result<std::shared_ptr<Image>> open_image(const std::string& name,
                                            const Image::OpenOptions& options);

  // As `rbd create`: EEXIST, EINVAL (name, order, striping), ENOSYS
  // (features the OSD does not know).
  Status create_image(const std::string& name, const CreateSpec& spec);
  // As `rbd rm`: ENOTEMPTY with snapshots, EBUSY when another client
  // watches the header.
  Status remove_image(const std::string& name);
  // As `rbd rename`.
  Status rename_image(const std::string& from, const std::string& to);
  // As `rbd trash mv`: returns the image id.
  Result<std::string> trash_move(const std::string& name);
  // As `rbd trash restore [--image NEW]`.
  Status trash_restore(const std::string& id, const std::string& new_name);
  Result<std::vector<std::pair<std::string, cls::TrashSpec>>> trash_list();

  // The ioctx holding an image's data objects (its data pool, or this pool).
  Result<librados::IoCtx> data_ioctx(const ImageHeader& h);

 private:
  Pool(std::shared_ptr<Cluster> c, librados::IoCtx io, std::string name)
      : m_cluster(std::move(c)), m_io(std::move(io)), m_name(std::move(name)) {}
  Result<std::string> generate_image_id();
  Status remove_data_objects(const ImageHeader& h);

  std::shared_ptr<Cluster> m_cluster;
  librados::IoCtx m_io;
  std::string m_name;
};

}  // namespace rbdfs::core
