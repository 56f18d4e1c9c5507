// Clones (reference rbd-lock-objectmap-clones.md §4): an image's link to
// its parent (core/parent.h), the copy-up of an object before a write
// (the state machine is in core/io_request.h), copy-ups before a shrink,
// and flatten.
#include "core/image_impl.h"

#include "core/rados.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>

#include "core/cls_call.h"
#include "core/features.h"
#include "core/io_request.h"
#include "core/parent.h"

namespace rbdfs::core {

using detail::cls_write;

Status ImageImpl::open_parent_of(const ImageHeader& h) {
  if (!h.parent.exists()) {  // flattened: let it go
    std::lock_guard<std::mutex> l(m_header_mu);
    m_parent.reset();
    m_parent_spec = {};
    return {};
  }
  {
    std::lock_guard<std::mutex> l(m_header_mu);
    const auto& p = m_parent_spec;
    if (m_parent && p.pool_id == h.parent.pool_id && p.pool_namespace == h.parent.pool_namespace &&
        p.image_id == h.parent.image_id && p.snap_id == h.parent.snap_id)
      return {};
  }
  auto parent = open_parent(m_cluster, h.parent, h.pool + "/" + h.name);
  if (!parent.ok()) return parent.err();
  std::lock_guard<std::mutex> l(m_header_mu);
  m_parent = std::move(*parent);
  m_parent_spec = h.parent;
  return {};
}

bool ImageImpl::link_parent(ImageRequest& req, const ImageHeader& h) const {
  req.parent = parent_of(h);
  if (!req.parent) {
    spdlog::error("image {}: its parent is not open: cannot copy up", h.name);
    return false;
  }
  req.parent_snap = h.parent.snap_id;
  req.overlap = h.overlap_at(cls::NOSNAP);
  req.layout = h.layout;
  return true;
}

std::unique_ptr<Copyup> ImageImpl::copyup_for(const ImageHeader& h, uint64_t objno) {
  const uint64_t inside = object_valid_length(h.layout, objno, h.overlap_at(cls::NOSNAP));
  if (!inside) return nullptr;
  auto cu = std::make_unique<Copyup>();
  cu->runs = object_image_extents(h.layout, objno, 0, inside);
  cu->objno = objno;
  if (m_map) {
    cu->md = &m_md;
    cu->fast_diff = (h.features & FEATURE_FAST_DIFF) != 0;
    for (const auto& s : h.snapshots)  // ascending ids: oldest first
      if (object_valid_length(h.layout, objno, h.overlap_at(s.id)))
        cu->snap_maps.push_back(object_map::map_object(h.id, s.id));
  }
  return cu;
}

std::shared_ptr<ImageImpl> ImageImpl::parent_of(const ImageHeader& h) const {
  std::lock_guard<std::mutex> l(m_header_mu);
  const auto& p = m_parent_spec;
  if (p.pool_id == h.parent.pool_id && p.image_id == h.parent.image_id &&
      p.pool_namespace == h.parent.pool_namespace && p.snap_id == h.parent.snap_id)
    return m_parent;
  return nullptr;
}

Status ImageImpl::copy_up_before_shrink(uint64_t new_size) {
  // set_size cuts the head's overlap, not the snapshots': the parent's data
  // the snapshots still see past the new size must be in their own clones
  // of the objects before the trims below (with the snap context) make
  // them. Absent objects holding such data are copied up (deep).
  auto h = header();
  const uint64_t overlap = h->overlap_at(cls::NOSNAP);
  if (overlap <= new_size || h->snapc.snaps.empty()) return {};
  const Layout& l = h->layout;
  return copy_up_objects((new_size / l.period()) * l.stripe_count, object_count(l, overlap),
                         new_size, 256);
}

Status ImageImpl::copy_up_objects(uint64_t first, uint64_t end, uint64_t keep, uint64_t batch) {
  for (uint64_t start = first; start < end; start += batch) {
    enter_submit();
    auto h = header();  // the snap context of now, as every write
    const uint64_t overlap = h->overlap_at(cls::NOSNAP);
    auto req = new_request();
    std::promise<Status> p;
    auto f = p.get_future();
    req->io_cb = [&p](Status s) { p.set_value(s); };
    req->write_seq = m_writes.begin();
    if (overlap && link_parent(*req, *h)) {
      const Layout& l = h->layout;
      for (uint64_t objno = start; objno < std::min(end, start + batch); ++objno) {
        if (object_valid_length(l, objno, overlap) <= object_valid_length(l, objno, keep))
          continue;  // no parent data past `keep` here
        auto cu = copyup_for(*h, objno);
        cu->copy_only = true;
        cu->ops = [os = h->layout.object_size](librados::ObjectWriteOperation& o) {
          o.set_alloc_hint(os, os);  // a change without data (see aio_discard)
        };
        librados::ObjectWriteOperation op;
        op.assert_exists();  // an object that exists has its own data already
        submit_object_write(req, m_data, object_name(h->object_prefix, objno), &op, h->snapc, false,
                            map_steps(objno, std::nullopt), std::move(cu));
      }
    } else if (overlap) {
      req->fail(EIO);
    }
    leave_submit();
    req->put();
    RBDFS_TRY(f.get());
  }
  return {};
}

Status ImageImpl::flatten() {
  RBDFS_TRY(refresh());
  auto h = header();
  auto lock = prepare_write(&h);  // held to the end (librbd: a maintenance op under the lock)
  if (!lock.ok()) return lock.err();
  if (!h->parent.exists() || !h->parent_at_head) return Errno(EINVAL);
  // 1. every object that still reads through to the parent, copied up
  // (deep where the image has snapshots: they keep the parent's data too)
  if (uint64_t overlap = h->overlap_at(cls::NOSNAP))
    RBDFS_TRY(copy_up_objects(0, object_count(h->layout, overlap), 0, 16));
  // 2. off the parent's books, unless snapshots still read through to it
  // (without deep-flatten their copies were not made by this image)
  h = header();
  const bool snaps_need_parent =
      !(h->features & FEATURE_DEEP_FLATTEN) &&
      std::any_of(h->snapshots.begin(), h->snapshots.end(),
                  [&](const cls::SnapshotInfo& s) { return h->snap_parent_overlap.count(s.id); });
  if (!snaps_need_parent) RBDFS_TRY(detach_from_parent(m_cluster, m_md, *h));
  // 3. the header: no parent at the head (cls keeps it for snapshots that
  // still use it and clears CLONE_CHILD when none does)
  Status s = cls_write(m_md, m_header_oid, "parent_detach", "");
  if (!s.ok() && s.error() == EOPNOTSUPP) s = cls_write(m_md, m_header_oid, "remove_parent", "");
  RBDFS_TRY(s);
  RBDFS_TRY(refresh());
  notify_header_update();
  spdlog::info("image {}/{}: flattened", h->pool, h->name);
  return {};
}

}  // namespace rbdfs::core
