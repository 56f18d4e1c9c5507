// copy_file_range inside the cluster: ImageImpl::copy_from.
//
//   [src_off, src_off+len) of the source (an image, or a snapshot of one)
//   to [dst_off, ...) of this image:
//
//   head and tail pieces, other layouts ......... READ+WRITE through here
//   whole objects (equal object size, unstriped, the same offset in the
//   object), a batch at a time:
//     STAT the source objects (at the source snapshot)
//       present .................................. COPY: [copy-from] sent
//            to the destination object as a write (the lock, the object map
//            EXISTS before, this image's snap context): the OSD reads the
//            source object itself, no byte passes through here
//       absent, below the source's parent overlap . READ+WRITE (the
//            parent's data)
//       absent ................................... DISCARD (stays absent)
//   READ+WRITE skips what reads as zeros: it is discarded instead.
#include "core/image_impl.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>

#include "core/io_request.h"
#include "core/names.h"
#include "core/striper.h"

namespace rbdfs::core {

namespace {

constexpr uint64_t COPY_BATCH = 64;        // objects per batch
constexpr uint64_t RW_CHUNK = 4ull << 20;  // bytes per read+write step

bool all_zero(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == 0; });
}

}  // namespace

Status ImageImpl::copy_by_rw(ImageImpl& src, uint64_t src_snap, uint64_t src_off, uint64_t dst_off,
                             uint64_t len, CopyStats* stats) {
  for (uint64_t done = 0; done < len;) {
    const uint64_t n = std::min(RW_CHUNK, len - done);
    auto data = src.read(src_snap, src_off + done, n);
    if (!data.ok()) return data.err();
    if (data->size() != n) return Errno(EIO);  // the source shrank meanwhile
    if (all_zero(*data)) {
      RBDFS_TRY(discard(dst_off + done, n));  // a hole stays a hole
      stats->skipped += n;
    } else {
      RBDFS_TRY(write(dst_off + done, data->data(), n));
      stats->moved += n;
    }
    done += n;
  }
  return {};
}

Status ImageImpl::copy_objects(ImageImpl& src, uint64_t src_snap, uint64_t src_obj,
                               uint64_t dst_obj, uint64_t count, CopyStats* stats) {
  auto sh = src.header();
  librados::IoCtx sio;
  sio.dup(src.m_data);
  sio.snap_set_read(src_snap);
  const uint64_t src_overlap = sh->overlap_at(src_snap);
  // 1. which source objects exist (and their versions: a copy of a
  // changed object fails instead of copying something else)
  struct Probe {
    librados::AioCompletion* c = nullptr;
    uint64_t size = 0;
    time_t mtime = 0;
  };
  std::vector<Probe> probes(count);
  for (uint64_t k = 0; k < count; ++k) {
    probes[k].c = librados::Rados::aio_create_completion();
    int r = sio.aio_stat(object_name(sh->object_prefix, src_obj + k), probes[k].c, &probes[k].size,
                         &probes[k].mtime);
    if (r < 0) {
      probes[k].c->release();
      probes[k].c = nullptr;
    }
  }
  // An object copied onto itself (a snapshot of this image into its head,
  // at the same place): the OSD would wait for its own write to let the
  // read in. Such objects go through here.
  const bool same_image = &src == this;
  std::vector<int> state(count);  // 0 present, -ENOENT absent, else the error
  std::vector<uint64_t> version(count);
  for (uint64_t k = 0; k < count; ++k) {
    if (!probes[k].c) {
      state[k] = -EIO;
      continue;
    }
    probes[k].c->wait_for_complete();
    state[k] = probes[k].c->get_return_value();
    version[k] = probes[k].c->get_version64();
    probes[k].c->release();
  }
  for (uint64_t k = 0; k < count; ++k)
    if (state[k] < 0 && state[k] != -ENOENT) return Errno::from_rados(state[k]);

  // 2. the present ones, copied by the OSDs, as one write request
  auto h = header();
  auto lock = prepare_write(&h);
  if (!lock.ok()) return lock.err();
  const uint64_t os = h->layout.object_size;
  enter_submit();
  h = header();
  send_held(dst_obj * os, count * os);  // acknowledged writes there go first
  auto req = new_request();
  std::promise<Status> p;
  auto f = p.get_future();
  req->io_cb = [&p](Status s) { p.set_value(s); };
  req->lock_ref = std::move(*lock);
  req->write_seq = m_writes.begin();
  for (uint64_t k = 0; k < count; ++k) {
    if (state[k] != 0 || (same_image && src_obj == dst_obj)) continue;
    librados::ObjectWriteOperation op;
    op.copy_from(object_name(sh->object_prefix, src_obj + k), sio, version[k],
                 LIBRADOS_OP_FLAG_FADVISE_SEQUENTIAL | LIBRADOS_OP_FLAG_FADVISE_NOCACHE);
    submit_object_write(req, m_data, object_name(h->object_prefix, dst_obj + k), &op, h->snapc,
                        false, map_steps(dst_obj + k, object_map::EXISTS));
    stats->offloaded += os;
  }
  leave_submit();
  req->put();
  RBDFS_TRY(f.get());

  // 3. the absent ones: the parent's data moves through here, holes stay
  for (uint64_t k = 0; k < count; ++k) {
    const bool self = same_image && src_obj == dst_obj;
    if (state[k] == 0 && !self) continue;
    const uint64_t s_off = (src_obj + k) * os, d_off = (dst_obj + k) * os;
    if (self || s_off < src_overlap) {
      RBDFS_TRY(copy_by_rw(src, src_snap, s_off, d_off, os, stats));
    } else {
      RBDFS_TRY(discard(d_off, os));
      stats->skipped += os;
    }
  }
  return {};
}

Result<uint64_t> ImageImpl::copy_from(Image& src_image, uint64_t src_snap, uint64_t src_off,
                                      uint64_t dst_off, uint64_t len, CopyStats* stats) {
  auto* src = dynamic_cast<ImageImpl*>(&src_image);
  if (!src) return Errno(EINVAL);
  CopyStats local;
  if (!stats) stats = &local;
  auto sh = src->header();
  auto src_size = sh->size_at(src_snap);
  if (!src_size.ok()) return src_size.err();
  if (src_off >= *src_size) return 0;
  len = std::min(len, *src_size - src_off);
  auto h = header();
  if (dst_off > h->size || len > h->size - dst_off) return Errno(EFBIG);  // grow first
  if (len == 0) return 0;
  // what we acknowledged of the source is in RADOS before the OSDs read it
  if (src_snap == cls::NOSNAP) RBDFS_TRY(src->drain());

  const Layout& sl = sh->layout;
  const Layout& dl = h->layout;
  const uint64_t os = dl.object_size;
  // Whole objects go by copy-from where an object of one is an object of
  // the other; not into a clone with snapshots (a copy-up would have to
  // come first: the plain path does it).
  const bool by_object = sl.object_size == os && sl.stripe_count == 1 && dl.stripe_count == 1 &&
                         src_off % os == dst_off % os &&
                         !(h->overlap_at(cls::NOSNAP) && !h->snapc.snaps.empty());
  uint64_t first = by_object ? (src_off + os - 1) / os * os : src_off + len;
  uint64_t last = by_object ? (src_off + len) / os * os : src_off + len;
  if (first >= last) first = last = src_off + len;
  RBDFS_TRY(copy_by_rw(*src, src_snap, src_off, dst_off, first - src_off, stats));
  for (uint64_t at = first; at < last; at += COPY_BATCH * os) {
    const uint64_t n = std::min(COPY_BATCH, (last - at) / os);
    RBDFS_TRY(copy_objects(*src, src_snap, at / os, (dst_off + (at - src_off)) / os, n, stats));
  }
  RBDFS_TRY(
      copy_by_rw(*src, src_snap, last, dst_off + (last - src_off), src_off + len - last, stats));
  spdlog::debug("copy {}@{} [{}, +{}) -> {} at {}: {} bytes by the OSDs, {} moved, {} holes",
                sh->name, src_snap, src_off, len, h->name, dst_off, stats->offloaded, stats->moved,
                stats->skipped);
  return len;
}

}  // namespace rbdfs::core
