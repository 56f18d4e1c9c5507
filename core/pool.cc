#include "core/pool.h"

#include "core/image_impl.h"
#include "core/rados.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "core/cls_call.h"
#include "core/features.h"
#include "core/names.h"
#include "core/notify_message.h"
#include "core/object_usage.h"
#include "core/object_map_codec.h"
#include "core/parent.h"
#include "core/striper.h"

namespace rbdfs::core {

using detail::cls_exec;
using detail::cls_write;
using detail::view;
using librados::bufferlist;

namespace {

// As librbd's ValidatePoolRequest, before the first image with its data in
// a pool: the pool must take self-managed snapshots and overwrites (an
// erasure-coded pool only with allow_ec_overwrites), proven once and
// recorded in the pool's rbd_info object (default namespace).
Status validate_data_pool(Cluster& c, int64_t pool_id, const std::string& what) {
  auto io = open_ioctx(c, pool_id);
  if (!io.ok()) return io.err();
  io->set_namespace("");
  const std::string validated = "overwrite validated", validate = "validate";
  bufferlist info;
  int r = io->read("rbd_info", info, 0, 0);
  if (r >= 0 && info.to_str() == validated) return {};
  if (r < 0 && r != -ENOENT) return Errno::from_rados(r);
  if (!(r >= 0 && info.to_str() == validate)) {
    // a self-managed snapshot id puts a new pool in that snapshot mode
    uint64_t snap = 0;
    r = io->selfmanaged_snap_create(&snap);
    if (r < 0) {
      spdlog::error("data pool {}: no self-managed snapshots ({}): it cannot hold RBD data", what,
                    Errno::from_rados(r).message());
      return r == -EINVAL ? Errno(EINVAL) : Errno::from_rados(r);
    }
    librados::ObjectWriteOperation op;
    op.create(true);
    bufferlist bl;
    bl.append(validate);
    op.write(0, bl);
    int w = io->operate("rbd_info", &op);
    (void)io->selfmanaged_snap_remove(snap);
    if (w < 0 && w != -EEXIST && w != -EOPNOTSUPP) return Errno::from_rados(w);
  }
  librados::ObjectWriteOperation op;
  bufferlist bl;
  bl.append(validated);
  op.write(0, bl);  // an overwrite: what an erasure-coded pool refuses without allow_ec_overwrites
  r = io->operate("rbd_info", &op);
  if (r == -EOPNOTSUPP) {
    spdlog::error(
        "data pool {} does not support overwrites (an erasure-coded pool needs `ceph osd "
        "pool set {} allow_ec_overwrites true`): no image gets its data there",
        what, what);
    return Errno(EINVAL);
  }
  if (r < 0) return Errno::from_rados(r);
  return {};
}

}  // namespace

Pool::Pool(std::shared_ptr<Cluster> c, std::unique_ptr<Io> io, std::string name, std::string ns)
    : m_cluster(std::move(c)),
      m_io(std::move(io)),
      m_name(ns.empty() ? name : name + "/" + ns),
      m_ns(std::move(ns)) {}

Pool::~Pool() = default;

Result<std::shared_ptr<Pool>> Pool::open(std::shared_ptr<Cluster> cluster, const std::string& name,
                                         const std::string& ns) {
  auto io = open_ioctx(*cluster, name);
  if (!io.ok()) return io.err();
  auto handle = std::make_unique<Io>();
  handle->io = std::move(*io);
  handle->io.set_namespace(ns);
  return std::shared_ptr<Pool>(new Pool(std::move(cluster), std::move(handle), name, ns));
}

Result<ImageHeader> Pool::read_header(const std::string& name, const std::string& id) {
  return core::read_header(m_io->io, m_name, name, id);
}

Result<uint64_t> Pool::allocated_bytes(const ImageHeader& h, uint64_t snap_id, uint64_t size) {
  auto data = data_ioctx(*this, h);
  if (!data.ok()) return data.err();
  return core::allocated_bytes(m_io->io, *data, h, snap_id, size);
}

Result<std::vector<std::pair<std::string, std::string>>> Pool::list_images(uint64_t page_size) {
  std::vector<std::pair<std::string, std::string>> out;
  std::string start;
  const uint64_t page = std::max<uint64_t>(page_size, 1);
  for (;;) {
    bufferlist reply;
    Status s =
        cls_exec(m_io->io, RBD_DIRECTORY, "dir_list", cls::enc_dir_list(start, page), &reply);
    if (!s.ok()) {
      if (s.error() == ENOENT) return out;  // no directory yet: no images
      return s.err();
    }
    auto m = cls::dec_string_map(view(reply));
    if (!m.ok()) {
      spdlog::error("pool {}: malformed dir_list reply", m_name);
      return m.err();
    }
    for (auto& [name, id] : *m) out.emplace_back(name, id);
    if (m->size() < page) break;
    start = m->rbegin()->first;
  }
  return out;
}

Result<std::string> Pool::image_id(const std::string& name) {
  if (!valid_rbd_name(name)) return Errno(ENOENT);
  return detail::image_id(m_io->io, m_name, name);
}

Result<std::shared_ptr<Image>> Pool::open_image(const std::string& name,
                                                const Image::OpenOptions& options) {
  if (!valid_rbd_name(name)) return Errno(ENOENT);
  librados::IoCtx io;
  io.dup(m_io->io);
  auto img = ImageImpl::open(m_cluster, std::move(io), m_name, name, options);
  if (!img.ok()) return img.err();
  return std::shared_ptr<Image>(std::move(*img));
}

Result<std::string> Pool::generate_image_id() {
  // As librbd: hex(client instance id) + hex(random u32), at most 14 chars.
  static thread_local std::mt19937 rng(std::random_device{}());
  char buf[64];
  std::snprintf(buf, sizeof buf, "%llx%x",
                static_cast<unsigned long long>(m_cluster->instance_id()),
                static_cast<unsigned>(rng()));
  std::string id = buf;
  if (id.size() > 14) id = id.substr(id.size() - 14);
  return id;
}

Status Pool::create_image(const std::string& name, const CreateSpec& spec) {
  auto id = create(name, spec);
  return id.ok() ? Status() : Status(id.err());
}

Result<std::string> Pool::create(const std::string& name, const CreateSpec& spec) {
  if (!valid_rbd_name(name)) return Errno(EINVAL);
  if (spec.order < 12 || spec.order > 25) return Errno(EINVAL);
  uint64_t features = spec.features;
  if (features & ~FEATURES_KNOWN) return Errno(ENOSYS);
  const uint64_t os = 1ull << spec.order;
  bool fancy = spec.stripe_unit || spec.stripe_count;
  if (fancy) {
    if (!spec.stripe_unit || !spec.stripe_count || spec.stripe_unit > os || os % spec.stripe_unit)
      return Errno(EINVAL);
    if (spec.stripe_unit != os || spec.stripe_count != 1)
      features |= FEATURE_STRIPINGV2;
    else
      fancy = false;
  }
  if (spec.data_pool_id >= 0 && spec.data_pool_id != m_io->io.get_id())
    features |= FEATURE_DATA_POOL;
  if (features & (FEATURE_JOURNALING | FEATURE_OPERATIONS | FEATURE_MIGRATING |
                  FEATURE_NON_PRIMARY | FEATURE_DIRTY_CACHE))
    return Errno(EOPNOTSUPP);  // rbdfs would have to maintain them
  // as librbd: an object map needs the lock, fast-diff the object map
  if (((features & FEATURE_OBJECT_MAP) && !(features & FEATURE_EXCLUSIVE_LOCK)) ||
      ((features & FEATURE_FAST_DIFF) && !(features & FEATURE_OBJECT_MAP)))
    return Errno(EINVAL);
  const uint64_t objects =
      object_count(Layout::make(os, spec.stripe_unit, spec.stripe_count), spec.size);
  if ((features & FEATURE_OBJECT_MAP) && objects > object_map::MAX_OBJECTS) return Errno(EFBIG);

  if (features & FEATURE_DATA_POOL) {
    std::string dp_name;
    if (rados(*m_cluster).pool_reverse_lookup(spec.data_pool_id, &dp_name) < 0)
      dp_name = std::to_string(spec.data_pool_id);
    RBDFS_TRY(validate_data_pool(*m_cluster, spec.data_pool_id, dp_name));
  }
  auto id = generate_image_id();
  if (!id.ok()) return id.err();
  const std::string header = header_object(*id);
  // with a data pool, librbd puts the metadata pool's id in the prefix
  const bool data_pool = features & FEATURE_DATA_POOL;
  const std::string prefix =
      "rbd_data." + (data_pool ? std::to_string(m_io->io.get_id()) + "." : std::string()) + *id;

  // Same order as librbd's CreateRequest: directory entry, id object,
  // header, striping. Undo on failure. In a namespace the directory must
  // be READY (not being removed): asserted in the same operation.
  if (m_ns.empty()) {
    RBDFS_TRY(
        cls_exec(m_io->io, RBD_DIRECTORY, "dir_add_image", cls::enc_dir_add_image(name, *id)));
  } else {
    librados::ObjectWriteOperation op;
    bufferlist ready = detail::to_bl(cls::enc_u8(cls::DIR_STATE_READY));
    bufferlist add = detail::to_bl(cls::enc_dir_add_image(name, *id));
    op.exec("rbd", "dir_state_assert", ready);
    op.exec("rbd", "dir_add_image", add);
    int r = m_io->io.operate(RBD_DIRECTORY, &op);
    if (r < 0) return Errno::from_rados(r);
  }
  Status s = cls_write(m_io->io, id_object(name), "set_id", cls::enc_string(*id), true);
  if (s.ok())
    s = cls_write(m_io->io, header, "create",
                  cls::enc_create(spec.size, spec.order, features, prefix,
                                  data_pool ? spec.data_pool_id : -1),
                  true);
  if (s.ok() && fancy)
    s = cls_exec(m_io->io, header, "set_stripe_unit_count",
                 cls::enc_set_stripe_unit_count(spec.stripe_unit, spec.stripe_count));
  // the map of a new image: every object absent
  const std::string map_oid = object_map::map_object(*id);
  if (s.ok() && (features & FEATURE_OBJECT_MAP))
    s = cls_exec(m_io->io, map_oid, "object_map_resize",
                 object_map::enc_resize(objects, object_map::NONEXISTENT));
  if (!s.ok()) {
    spdlog::error("pool {}: creating image {} failed: {}", m_name, name, s.err().message());
    if (features & FEATURE_OBJECT_MAP) m_io->io.remove(map_oid);
    m_io->io.remove(header);
    if (s.error() != EEXIST) m_io->io.remove(id_object(name));
    (void)cls_exec(m_io->io, RBD_DIRECTORY, "dir_remove_image",
                   cls::enc_dir_remove_image(name, *id));
    return s.err();
  }
  spdlog::info("pool {}: created image {} (id {}, {} bytes, order {})", m_name, name, *id,
               spec.size, spec.order);
  return *id;
}

Status Pool::clone_image(const std::string& name, Pool& parent_pool, const ImageHeader& parent,
                         uint64_t snap_id, int64_t data_pool_id) {
  const cls::SnapshotInfo* snap = parent.find_snap_id(snap_id);
  if (!(parent.features & FEATURE_LAYERING) || !snap || snap->ns_type != cls::SNAP_NS_USER)
    return Errno(EINVAL);
  // As librbd's CloneRequest/CreateRequest: the parent's layout and
  // features, less those a new image gets only implicitly (create_image
  // adds striping and the data pool back where they apply).
  CreateSpec spec;
  spec.size = snap->image_size;
  spec.order = parent.order;
  if (parent.layout.stripe_count != 1 || parent.layout.stripe_unit != parent.layout.object_size) {
    spec.stripe_unit = parent.layout.stripe_unit;
    spec.stripe_count = parent.layout.stripe_count;
  }
  spec.features = parent.features & ~(FEATURE_STRIPINGV2 | FEATURE_DATA_POOL | FEATURE_OPERATIONS |
                                      FEATURE_MIGRATING | FEATURE_NON_PRIMARY |
                                      FEATURE_DIRTY_CACHE | FEATURE_JOURNALING);
  spec.data_pool_id = data_pool_id;
  // no format-1 image of that name (librbd checks it too)
  if (m_io->io.stat(name + ".rbd", nullptr, nullptr) == 0) return Errno(EEXIST);
  auto id = create(name, spec);
  if (!id.ok()) return id.err();
  librados::IoCtx& pio = ioctx(parent_pool);
  cls::ParentSpec ps;
  ps.pool_id = pio.get_id();
  ps.pool_namespace = pio.get_namespace();
  ps.image_id = parent.id;
  ps.snap_id = snap_id;
  const std::string header = header_object(*id);
  // the child's header first (its parent, then CLONE_CHILD, as librbd's
  // AttachChildRequest), then the parent's books: the unwind (remove_image)
  // then knows a v2 clone and detaches whatever was attached
  Status s =
      cls_exec(m_io->io, header, "parent_attach", cls::enc_parent_attach(ps, spec.size, false));
  if (s.ok())
    s = cls_exec(
        m_io->io, header, "op_features_set",
        cls::enc_op_features_set(cls::OP_FEATURE_CLONE_CHILD, cls::OP_FEATURE_CLONE_CHILD));
  if (s.ok())
    s = cls_exec(pio, header_object(parent.id), "child_attach",
                 cls::enc_child_attach(snap_id, m_io->io.get_id(), *id, m_io->io.get_namespace()));
  if (!s.ok()) {
    spdlog::error("pool {}: cloning {}/{}@{} as {} failed: {}", m_name, parent.pool, parent.name,
                  snap->name, name, s.err().message());
    (void)remove_image(name);  // detaches what was attached
    return s;
  }
  spdlog::info("pool {}: cloned {}/{}@{} as {} (id {})", m_name, parent.pool, parent.name,
               snap->name, name, *id);
  return {};
}

Status Pool::detach_from_parent(const ImageHeader& child) {
  return core::detach_from_parent(m_cluster, m_io->io, child);
}

Status Pool::set_metadata(const std::string& id, const std::map<std::string, std::string>& kv) {
  const std::string header = header_object(id);
  RBDFS_TRY(cls_exec(m_io->io, header, "metadata_set", cls::enc_metadata_set(kv)));
  // as librbd after an update: whoever has the image open refreshes
  bufferlist payload = detail::to_bl(notify::enc_header_update()), reply;
  (void)m_io->io.notify2(header, payload, 5000, &reply);
  return {};
}

Result<std::string> Pool::parent_name(const ImageHeader& h) {
  return core::parent_name(*m_cluster, h.parent);
}

Result<librados::IoCtx> data_ioctx(Pool& p, const ImageHeader& h) {
  if (h.data_pool_id >= 0) {
    auto io = open_ioctx(*p.cluster(), h.data_pool_id);
    if (io.ok()) io->set_namespace(ioctx(p).get_namespace());  // data objects share it
    return io;
  }
  librados::IoCtx io;
  io.dup(ioctx(p));
  return io;
}

Status Pool::remove_data_objects(const ImageHeader& h) {
  auto io = data_ioctx(*this, h);
  if (!io.ok()) return io.err();
  librados::IoCtx& data = *io;
  uint64_t n = object_count(h.layout, h.size);
  const uint64_t batch = 256;
  for (uint64_t start = 0; start < n; start += batch) {
    uint64_t end = std::min(n, start + batch);
    std::vector<librados::AioCompletion*> cs;
    for (uint64_t o = start; o < end; ++o) {
      auto* c = librados::Rados::aio_create_completion();
      if (data.aio_remove(object_name(h.object_prefix, o), c) < 0) {
        c->release();
        continue;
      }
      cs.push_back(c);
    }
    int err = 0;
    for (auto* c : cs) {
      c->wait_for_complete();
      int r = c->get_return_value();
      if (r < 0 && r != -ENOENT && !err) err = -r;
      c->release();
    }
    if (err) return Errno(err);
  }
  return {};
}

Status Pool::destroy(const ImageHeader& h) {
  if (!h.snapshots.empty()) return Errno(ENOTEMPTY);
  if (!h.read_only_reason.empty()) return Errno(EROFS);
  const std::string header = header_object(h.id);
  std::list<obj_watch_t> watchers;
  if (m_io->io.list_watchers(header, &watchers) == 0 && !watchers.empty()) return Errno(EBUSY);
  RBDFS_TRY(remove_data_objects(h));
  if (h.parent.exists()) RBDFS_TRY(detach_from_parent(h));
  int r = m_io->io.remove(object_map::map_object(h.id));
  if (r < 0 && r != -ENOENT) return Errno::from_rados(r);
  r = m_io->io.remove(header);
  if (r < 0 && r != -ENOENT) return Errno::from_rados(r);
  return {};
}

Status Pool::remove_image(const std::string& name) {
  auto id = image_id(name);
  if (!id.ok()) return id.err();
  auto h = core::read_header(m_io->io, m_name, name, *id);
  if (!h.ok()) return h.err();
  RBDFS_TRY(destroy(*h));
  int r = m_io->io.remove(id_object(name));
  if (r < 0 && r != -ENOENT) return Errno::from_rados(r);
  Status s =
      cls_exec(m_io->io, RBD_DIRECTORY, "dir_remove_image", cls::enc_dir_remove_image(name, *id));
  if (!s.ok() && s.error() != ENOENT) return s;
  spdlog::info("pool {}: removed image {} (id {})", m_name, name, *id);
  return {};
}

Status Pool::rename_image(const std::string& from, const std::string& to) {
  if (!valid_rbd_name(to)) return Errno(EINVAL);
  if (from == to) return {};
  auto id = image_id(from);
  if (!id.ok()) return id.err();
  // As librbd's RenameRequest: new id object, directory, drop the old one.
  bufferlist idbl;
  int r = m_io->io.read("rbd_id." + from, idbl, 0, 0);
  if (r < 0) return Errno::from_rados(r);
  librados::ObjectWriteOperation op;
  op.create(true);
  op.write_full(idbl);
  r = m_io->io.operate("rbd_id." + to, &op);
  if (r < 0) return Errno::from_rados(r);
  Status s = cls_exec(m_io->io, RBD_DIRECTORY, "dir_rename_image",
                      cls::enc_dir_rename_image(from, to, *id));
  if (!s.ok()) {
    m_io->io.remove("rbd_id." + to);
    return s;
  }
  m_io->io.remove("rbd_id." + from);
  spdlog::info("pool {}: renamed image {} to {}", m_name, from, to);
  return {};
}

}  // namespace rbdfs::core
