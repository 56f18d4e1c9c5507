// Pool: image-level administration of one RBD pool (list, create, remove,
// rename, trash), as `rbd` does it, with cls "rbd" calls on rbd_directory,
// rbd_id.<name>, rbd_header.<id> and rbd_trash. Stateless apart from the
// ioctx; thread-safe.
//
// Its librados ioctx is opaque here (core/rados.h completes it).
#pragma once

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

  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  const std::string& name() const { return m_name; }
  const std::shared_ptr<Cluster>& cluster() const { return m_cluster; }
  struct Io;
  Io& io_handle() { return *m_io; }

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
  // As `rbd clone` on a Mimic+ cluster (a v2 clone: no protection), with
  // cls calls only (reference §4.7): image `name` in this pool, a clone of
  // snapshot `snap_id` of `parent` (in `parent_pool`), with the parent's
  // layout and features (data pool: `data_pool_id`). EINVAL when the
  // parent lacks layering or the snapshot is not a user snapshot; EEXIST.
  Status clone_image(const std::string& name, Pool& parent_pool, const ImageHeader& parent,
                     uint64_t snap_id, int64_t data_pool_id = -1);
  // "pool/image@snapshot" of a clone's parent ("" for none).
  Result<std::string> parent_name(const ImageHeader& h);
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

  // The header of image `id` (named `name`) as read_header gives it.
  Result<ImageHeader> read_header(const std::string& name, const std::string& id);
  // Bytes the image's objects hold at `snap_id` (st_blocks; see
  // core/object_usage.h).
  Result<uint64_t> allocated_bytes(const ImageHeader& h, uint64_t snap_id, uint64_t size);

 private:
  Pool(std::shared_ptr<Cluster> c, std::unique_ptr<Io> io, std::string name);
  Result<std::string> generate_image_id();
  // create_image, giving the new image's id.
  Result<std::string> create(const std::string& name, const CreateSpec& spec);
  // A clone being removed leaves its parent's books (v2: child_detach on
  // the parent's header, and a trashed parent snapshot with no child left
  // is removed, as librbd does; v1: rbd_children).
  Status detach_from_parent(const ImageHeader& child);
  Status remove_data_objects(const ImageHeader& h);

  std::shared_ptr<Cluster> m_cluster;
  std::unique_ptr<Io> m_io;
  std::string m_name;
};

}  // namespace rbdfs::core
