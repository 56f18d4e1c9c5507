// Pool: image-level administration of one RBD pool, or of one namespace of
// it (list, create, remove, rename, trash, namespaces), as `rbd` does it,
// with cls "rbd" calls on rbd_directory, rbd_id.<name>, rbd_header.<id>,
// rbd_trash and rbd_namespace. Stateless apart from the ioctx; thread-safe.
//   pool.cc             images: list, create, clone, remove, rename
//   pool_trash.cc       the trash: move, list, restore, remove for good
//   pool_namespaces.cc  namespaces: list, create, remove
//
// Its librados ioctx is opaque here (core/rados.h completes it).
#pragma once

#include <map>
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
  // ENOENT when the pool does not exist. With `ns`, the pool's RBD
  // namespace of that name (not checked: see list_namespaces).
  static Result<std::shared_ptr<Pool>> open(std::shared_ptr<Cluster> cluster,
                                            const std::string& name, const std::string& ns = "");

  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // "pool", or "pool/namespace" as `rbd` spells it.
  const std::string& name() const { return m_name; }
  const std::string& namespace_name() const { return m_ns; }
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
  // As `rbd trash restore [--image NEW]`: EBUSY unless the entry is a
  // user's (source USER or USER_PARENT) in state NORMAL; EEXIST.
  Status trash_restore(const std::string& id, const std::string& new_name);
  // Every entry of the trash, by id.
  Result<std::vector<std::pair<std::string, cls::TrashSpec>>> trash_list();
  // As `rbd trash rm [--force]`: EPERM before the entry's deferment end
  // time (unless `force`), EBUSY while it is being moved or restored or
  // another client has it open, ENOTEMPTY with snapshots; then the image's
  // objects, its header and the entry go.
  Status trash_remove(const std::string& id, bool force);

  // Namespaces (a Pool of the default namespace only; reference §5).
  // Sorted; none when the pool never had one.
  Result<std::vector<std::string>> list_namespaces();
  // As `rbd namespace create`: EEXIST, EINVAL for a name rbd would not take.
  Status create_namespace(const std::string& ns);
  // As `rbd namespace remove`: ENOTEMPTY while it holds images or trashed
  // images, ENOENT.
  Status remove_namespace(const std::string& ns);
  // A Pool of a namespace: whether the namespace exists (its directory is
  // READY: ENOENT otherwise), asked inside it, as librbd's
  // Namespace::exists does for clients whose caps end at the namespace.
  Status namespace_ready();

  // Sets image metadata keys of image `id` (`rbd image-meta set`; the
  // cls call needs no lock) and tells its watchers the header changed.
  Status set_metadata(const std::string& id, const std::map<std::string, std::string>& kv);

  // The header of image `id` (named `name`) as read_header gives it.
  Result<ImageHeader> read_header(const std::string& name, const std::string& id);
  // Bytes the image's objects hold at `snap_id` (st_blocks; see
  // core/object_usage.h).
  Result<uint64_t> allocated_bytes(const ImageHeader& h, uint64_t snap_id, uint64_t size);

 private:
  Pool(std::shared_ptr<Cluster> c, std::unique_ptr<Io> io, std::string name, std::string ns);
  Result<std::string> generate_image_id();
  // create_image, giving the new image's id.
  Result<std::string> create(const std::string& name, const CreateSpec& spec);
  // A clone being removed leaves its parent's books (v2: child_detach on
  // the parent's header, and a trashed parent snapshot with no child left
  // is removed, as librbd does; v1: rbd_children).
  Status detach_from_parent(const ImageHeader& child);
  Status remove_data_objects(const ImageHeader& h);
  // The objects of image `h` (data, object map, header) and its parent's
  // record of it; EBUSY while another client watches its header,
  // ENOTEMPTY with snapshots. Its name (directory, id object) is the
  // caller's.
  Status destroy(const ImageHeader& h);

  std::shared_ptr<Cluster> m_cluster;
  std::unique_ptr<Io> m_io;
  std::string m_name;
  std::string m_ns;
};

}  // namespace rbdfs::core
