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
//   READ+WRITE skips what reads as zeros: it is discarded instead. Read and
//   written too: an object copied onto itself, objects another copy-from is
//   writing or reading the other way (CopyRegistry), and everything when
//   the destination is a clone that has snapshots.
#include "core/image_impl.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <mutex>
#include <set>

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

namespace {

// Objects in copy-from right now, process-wide: a copy-from waits (at
// the OSD, holding its destination object) for the read of its source; two
// copies in opposite directions (A to B while B to A) would each wait for
// the other for ever. An object that is the destination of one is never
// the source of another, nor the other way round: such objects go by read
// and write instead.
class CopyRegistry {
 public:
  // Registers the pair unless it would close such a cycle.
  bool enter(const std::string& src, const std::string& dst) {
    std::lock_guard<std::mutex> l(m_mu);
    if (m_dsts.count(src) || m_srcs.count(dst)) return false;
    m_srcs.insert(src);
    m_dsts.insert(dst);
    return true;
  }
  void leave(const std::string& src, const std::string& dst) {
    std::lock_guard<std::mutex> l(m_mu);
    m_srcs.erase(m_srcs.find(src));
    m_dsts.erase(m_dsts.find(dst));
  }

 private:
  std::mutex m_mu;
  std::multiset<std::string> m_srcs;  // GUARDED_BY(m_mu)
  std::multiset<std::string> m_dsts;  // GUARDED_BY(m_mu)
};
CopyRegistry g_copies;

std::string object_key(librados::IoCtx& io, const std::string& oid) {
  return std::to_string(io.get_id()) + "/" + io.get_namespace() + "/" + oid;
}

}  // namespace

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
  enum class How { OSD, RW, DISCARD };
  std::vector<How> how(count, How::OSD);
  std::vector<uint64_t> version(count);
  int err = 0;
  for (uint64_t k = 0; k < count; ++k) {
    int r = -EIO;
    if (probes[k].c) {
      probes[k].c->wait_for_complete();
      r = probes[k].c->get_return_value();
      version[k] = probes[k].c->get_version64();
      probes[k].c->release();
    }
    if (r == -ENOENT)  // the parent's data moves through here; holes stay
      how[k] = (src_obj + k) * sh->layout.object_size < src_overlap ? How::RW : How::DISCARD;
    else if (r < 0 && !err)
      err = r;
  }
  if (err) return Errno::from_rados(err);

  // 2. the present ones, copied by the OSDs, as one write request
  auto h = header();
  auto lock = prepare_write(&h);
  if (!lock.ok()) return lock.err();
  const uint64_t os = h->layout.object_size;
  enter_submit();
  h = header();  // as every write: what holds inside the gate
  // into a clone that has snapshots now, a copy-up must come first (the
  // plain path does it); nothing past an end that moved meanwhile
  const bool copyup = h->overlap_at(cls::NOSNAP) && !h->snapc.snaps.empty();
  std::vector<std::pair<std::string, std::string>> entered;
  for (uint64_t k = 0; k < count; ++k) {
    if (how[k] != How::OSD) continue;
    const std::string so = object_name(sh->object_prefix, src_obj + k);
    const std::string dobj = object_name(h->object_prefix, dst_obj + k);
    // An object copied onto itself (a snapshot of this image into its
    // head, at the same place): the OSD would wait for its own write to
    // let the read in.
    const bool self = &src == this && src_obj == dst_obj;
    if (self || copyup || (dst_obj + k + 1) * os > h->size ||
        !g_copies.enter(object_key(sio, so), object_key(m_data, dobj))) {
      how[k] = How::RW;
      continue;
    }
    entered.emplace_back(object_key(sio, so), object_key(m_data, dobj));
  }
  send_held(dst_obj * os, count * os);  // acknowledged writes there go first
  auto req = new_request();
  std::promise<Status> p;
  auto f = p.get_future();
  req->io_cb = [&p](Status s) { p.set_value(s); };
  req->lock_ref = std::move(*lock);
  req->write_seq = m_writes.begin();
  for (uint64_t k = 0; k < count; ++k) {
    if (how[k] != How::OSD) continue;
    librados::ObjectWriteOperation op;
    op.copy_from(object_name(sh->object_prefix, src_obj + k), sio, version[k],
                 LIBRADOS_OP_FLAG_FADVISE_SEQUENTIAL | LIBRADOS_OP_FLAG_FADVISE_NOCACHE);
    submit_object_write(req, m_data, object_name(h->object_prefix, dst_obj + k), &op, h->snapc,
                        false, map_steps(dst_obj + k, object_map::EXISTS));
    stats->offloaded += os;
  }
  leave_submit();
  req->put();
  Status sent = f.get();
  for (const auto& [so, dobj] : entered) g_copies.leave(so, dobj);
  RBDFS_TRY(sent);

  // 3. the rest: read and written here, or discarded
  for (uint64_t k = 0; k < count; ++k) {
    const uint64_t s_off = (src_obj + k) * os, d_off = (dst_obj + k) * os;
    if (how[k] == How::RW) {
      RBDFS_TRY(copy_by_rw(src, src_snap, s_off, d_off, os, stats));
    } else if (how[k] == How::DISCARD) {
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
