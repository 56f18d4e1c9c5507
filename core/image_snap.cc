// Snapshots of an image, as `rbd snap create/rm/rename` leave them.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <future>

#include "core/cls_call.h"
#include "core/features.h"
#include "core/image_impl.h"
#include "core/parent.h"

#include "core/rados.h"

namespace rbdfs::core {

using detail::cls_exec;
using detail::cls_write;
using detail::decoded;
using detail::view;
using librados::bufferlist;

namespace {

// A self-managed snapshot id allocated (create) or released (remove) by the
// monitor. librados completes the op only once it has the OSD map epoch of
// the reply; with several such ops at once from one client that map was
// seen not to arrive (the op then waits forever, until any later map). So
// the wait is bounded: every 5 s without an answer, fetch the latest map.
int selfmanaged_snap_op(Cluster& cluster, librados::IoCtx& io, bool create, uint64_t* id) {
  struct Wait {
    std::promise<int> done;
    librados::AioCompletion* c = nullptr;
  } w;
  auto f = w.done.get_future();
  w.c = librados::Rados::aio_create_completion(&w, [](librados::completion_t, void* arg) {
    auto* wait = static_cast<Wait*>(arg);
    wait->done.set_value(wait->c->get_return_value());
  });
  if (create)
    io.aio_selfmanaged_snap_create(id, w.c);
  else
    io.aio_selfmanaged_snap_remove(*id, w.c);
  for (int waits = 0; f.wait_for(std::chrono::seconds(5)) != std::future_status::ready; ++waits) {
    spdlog::warn("snapshot id {} waits for the monitor ({} s): fetching the latest OSD map",
                 create ? "allocation" : "release", 5 * (waits + 1));
    rados(cluster).wait_for_latest_osdmap();
  }
  int r = f.get();
  w.c->release();
  return r;
}

}  // namespace

Result<uint64_t> ImageImpl::snap_create(const std::string& name) {
  if (!valid_rbd_name(name)) return Errno(EINVAL);
  auto h = header();
  auto lock = prepare_write(&h);  // held to the end
  if (!lock.ok()) return lock.err();
  if (h->find_snap(name)) return Errno(EEXIST);
  // Every write is wholly before the snapshot (in it, object map
  // included) or after it.
  block_writes();
  struct Unblock {
    ImageImpl* img;
    ~Unblock() { img->unblock_writes(); }
  } unblock{this};
  RBDFS_TRY(drain());
  for (int attempt = 0; attempt < 10; ++attempt) {
    uint64_t id = 0;
    int r = selfmanaged_snap_op(*m_cluster, m_data, true, &id);
    if (r < 0) return Errno::from_rados(r);
    Status s = cls_write(m_md, m_header_oid, "snapshot_add", cls::enc_snapshot_add(id, name));
    if (s.ok()) {
      if (m_map) (void)m_map->snapshot_created(id);  // failures flag the map invalid
      if (Status rs = refresh(); !rs.ok()) {
        // Writes must not resume with the old snap context (they would
        // change the snapshot): take the new one as we know it.
        spdlog::warn("image {}/{}: refresh after snapshot {} failed ({}): using its snap context",
                     h->pool, h->name, name, rs.err().message());
        std::lock_guard<std::mutex> l(m_header_mu);
        auto next = std::make_shared<ImageHeader>(*m_header);
        next->snapc.seq = std::max<uint64_t>(next->snapc.seq, id);
        next->snapc.snaps.insert(next->snapc.snaps.begin(), id);
        m_header = std::move(next);
        ++m_header_gen;
      }
      notify_header_update();
      spdlog::info("image {}/{}: created snapshot {} (id {})", h->pool, h->name, name, id);
      return static_cast<uint64_t>(id);
    }
    (void)selfmanaged_snap_op(*m_cluster, m_data, false, &id);
    if (s.error() != ESTALE) return s.err();
    // lost a race with another snapshot: take a newer id
    RBDFS_TRY(refresh());
  }
  return Errno(EAGAIN);
}

Result<bool> ImageImpl::snap_protected(uint64_t snap_id) {
  bufferlist out;
  RBDFS_TRY(cls_exec(m_md, m_header_oid, "get_protection_status", cls::enc_snap_id(snap_id), &out));
  auto v = decoded(cls::dec_u8(view(out)), "get_protection_status", m_header_oid);
  if (!v) return v.err();
  return *v != 0;  // 0 unprotected, 1 unprotecting, 2 protected
}

Status ImageImpl::snap_remove(const std::string& name) {
  RBDFS_TRY(refresh());
  auto h = header();
  auto lock = prepare_write(&h);  // held to the end
  if (!lock.ok()) return lock.err();
  const cls::SnapshotInfo* s = h->find_snap(name);
  if (!s) return Errno(ENOENT);
  auto prot = snap_protected(s->id);
  if (!prot.ok()) return prot.err();
  if (*prot) return Errno(EBUSY);  // a v1 clone's parent: rbd snap unprotect first
  if (s->child_count > 0) {
    // v2 clones still read it: to the snapshot trash, as librbd does; the
    // last clone to go removes it (Pool::detach_from_parent)
    RBDFS_TRY(cls_write(m_md, m_header_oid, "snapshot_trash_add", cls::enc_snap_id(s->id)));
    RBDFS_TRY(refresh());
    notify_header_update();
    spdlog::info("image {}/{}: snapshot {} (id {}) moved to the snapshot trash: {} clone(s) use it",
                 h->pool, h->name, name, s->id, s->child_count);
    return {};
  }
  return remove_snap(*h, *s);
}

Status ImageImpl::snap_remove_trashed(uint64_t snap_id) {
  RBDFS_TRY(refresh());
  auto h = header();
  auto lock = prepare_write(&h);  // held to the end
  if (!lock.ok()) return lock.err();
  const cls::SnapshotInfo* s = h->find_snap_id(snap_id);
  if (!s || s->ns_type != cls::SNAP_NS_TRASH) return Errno(ENOENT);
  if (s->child_count > 0) return Errno(EBUSY);
  return remove_snap(*h, *s);
}

Status ImageImpl::remove_snap(const ImageHeader& hdr, const cls::SnapshotInfo& s) {
  const ImageHeader* h = &hdr;
  const std::string name = s.name;
  uint64_t id = s.id;
  // A flattened clone whose last snapshot using the parent goes: off the
  // parent's books first, while CLONE_CHILD still says how (cls drops the
  // parent with the snapshot; librbd's SnapshotRemoveRequest does the same)
  if (h->parent.exists() && !h->parent_at_head &&
      std::none_of(h->snapshots.begin(), h->snapshots.end(), [&](const cls::SnapshotInfo& o) {
        return o.id != id && h->snap_parent_overlap.count(o.id);
      }))
    RBDFS_TRY(detach_from_parent(m_cluster, m_md, *h));
  if (m_map) {
    std::optional<uint64_t> next;  // the next newer snapshot, or the head
    for (const auto& o : h->snapshots)
      if (o.id > id) {
        next = o.id;
        break;
      }
    bufferlist fl;  // a snapshot whose map was flagged invalid passes that on
    bool removed_invalid = true;
    if (cls_exec(m_md, m_header_oid, "get_flags", cls::enc_snap_id(id), &fl).ok()) {
      auto f = decoded(cls::dec_u64(view(fl)), "get_flags", m_header_oid);
      removed_invalid = !f.ok() || (*f & FLAG_OBJECT_MAP_INVALID);
    }
    RBDFS_TRY(m_map->snapshot_removing(id, removed_invalid, next));
  }
  RBDFS_TRY(cls_write(m_md, m_header_oid, "snapshot_remove", cls::enc_snap_id(id)));
  uint64_t sid = id;
  int r = selfmanaged_snap_op(*m_cluster, m_data, false, &sid);
  if (r < 0)
    spdlog::warn("image {}/{}: releasing snapshot id {} failed: {}", h->pool, h->name, id,
                 Errno::from_rados(r).message());
  RBDFS_TRY(refresh());
  notify_header_update();
  spdlog::info("image {}/{}: removed snapshot {} (id {})", h->pool, h->name, name, id);
  return {};
}

Status ImageImpl::snap_rename(const std::string& from, const std::string& to) {
  if (!valid_rbd_name(to)) return Errno(EINVAL);
  RBDFS_TRY(refresh());
  auto h = header();
  auto lock = prepare_write(&h);
  if (!lock.ok()) return lock.err();
  const cls::SnapshotInfo* s = h->find_snap(from);
  if (!s) return Errno(ENOENT);
  if (from == to) return {};
  if (h->find_snap(to)) return Errno(EEXIST);
  RBDFS_TRY(cls_write(m_md, m_header_oid, "snapshot_rename", cls::enc_snapshot_rename(s->id, to)));
  RBDFS_TRY(refresh());
  notify_header_update();
  return {};
}

}  // namespace rbdfs::core
