// Files: open/create, read, write, flush/fsync, release, fallocate, lseek.
#include <linux/fuse.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>
#include <linux/falloc.h>

#include "core/features.h"
#include "core/striper.h"
#include "fuse/fs_internal.h"

namespace rbdfs::ll {

void Filesystem::open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Node n;
  if (!resolve(req, ino, &n)) return;
  if (n.kind != NodeKind::IMAGE && n.kind != NodeKind::SNAP && n.kind != NodeKind::TRASHED) {
    fuse_reply_err(req, EISDIR);
    return;
  }
  bool want_write = (fi->flags & O_ACCMODE) != O_RDONLY;
  if ((n.kind == NodeKind::SNAP || n.kind == NodeKind::TRASHED) && want_write) {
    fuse_reply_err(req, EROFS);
    return;
  }
  Result<std::shared_ptr<core::Image>> img = Errno(ENOENT);
  if (n.kind == NodeKind::TRASHED) {  // read-only, by its id: it has no name
    auto e = trash_entry(n.pool, n.image, true);
    img = e.ok() ? open_image(n.pool, e->spec.name, e->id) : e.err();
  } else {
    img = open_image(n.pool, n.image);
  }
  if (!img.ok()) {
    fuse_reply_err(req, img.error());
    return;
  }
  auto h = std::make_unique<Handle>();
  h->set_image(*img);
  if (n.kind == NodeKind::SNAP) {
    const auto* s = (*img)->header()->find_snap(n.snap);
    if (!s) {
      fuse_reply_err(req, ENOENT);
      return;
    }
    h->snap_id = s->id;
    fi->keep_cache = 1;  // a snapshot never changes
  }
  if (want_write) {
    std::string why = (*img)->read_only_reason();
    if (!why.empty()) {
      spdlog::info("open {}/{} for writing refused: {}", n.pool, n.image, why);
      fuse_reply_err(req, EROFS);
      return;
    }
    h->writable = true;
    if (fi->flags & O_TRUNC) {
      Status s = (*img)->resize(0);
      if (!s.ok()) {
        fuse_reply_err(req, s.error());
        return;
      }
    }
  }
  // O_DIRECT writers (fio, qemu cache=none, losetup --direct-io) get the
  // kernel's direct-I/O path: on the cached path the kernel asks us for
  // security.capability before every write (FUSE mounts never get
  // SB_NOSEC), one more round trip per write. Writes inside the image may
  // then also run in parallel on the inode.
  fi->direct_io = (fi->flags & O_DIRECT) && h->writable;
  fi->fh = reinterpret_cast<uintptr_t>(h.get());
  if (reply_open(req, fi) == 0) h.release();
}

int Filesystem::reply_open(fuse_req_t req, const fuse_file_info* fi) {
  if (!fi->direct_io) return fuse_reply_open(req, fi);
  // Direct-I/O files also allow parallel direct writes, but libfuse 3.14's
  // fuse_file_info has no bit for FOPEN_PARALLEL_DIRECT_WRITES (kernel 6.2+,
  // ignored by older ones): the open reply is this struct alone, so send
  // it ourselves.
  fuse_open_out out{};
  out.fh = fi->fh;
  out.open_flags = FOPEN_PARALLEL_DIRECT_WRITES;
  if (fi->direct_io) out.open_flags |= FOPEN_DIRECT_IO;
  if (fi->keep_cache) out.open_flags |= FOPEN_KEEP_CACHE;
  return fuse_reply_buf(req, reinterpret_cast<const char*>(&out), sizeof(out));
}

core::Result<int64_t> Filesystem::create_data_pool_id(const std::string& what) {
  if (m_create_data_pool.empty()) return int64_t{-1};
  auto dp = cluster()->pool_id(m_create_data_pool);
  if (dp.ok()) return dp;
  if (dp.error() == ENOENT)
    spdlog::warn("{}: the data pool {} (--data-pool or rbd_default_data_pool) does not exist", what,
                 m_create_data_pool);
  else
    spdlog::warn("{}: data pool {}: {}", what, m_create_data_pool, dp.err().message());
  return dp.err();
}

Status Filesystem::create_in_pool(const Node& p, const std::string& name, bool excl,
                                  bool* created) {
  if (p.kind != NodeKind::POOL) return Errno(EPERM);
  RBDFS_TRY(check_new_name(name));
  auto pl = pool(p.pool);
  if (!pl.ok()) return pl.err();
  core::CreateSpec spec;
  spec.order = m_create_order;
  spec.features = m_create_features;
  spec.stripe_unit = m_create_stripe_unit;
  spec.stripe_count = m_create_stripe_count;
  auto dp = create_data_pool_id("create " + p.pool + "/" + name);
  if (!dp.ok()) return dp.err();
  spec.data_pool_id = *dp;
  Status s = change_pool(p.pool, [&](core::Pool& q) { return q.create_image(name, spec); });
  *created = s.ok();
  if (s.error() == EEXIST && !excl) return {};
  if (!s.ok()) {
    if (s.error() != EEXIST) spdlog::warn("create {}/{}: {}", p.pool, name, s.err().message());
    return s;
  }
  invalidate_listing(p.pool);
  forget_header(p.pool, name);
  return {};
}

void Filesystem::reply_create(fuse_req_t req, const Node& n, std::unique_ptr<Handle> h,
                              fuse_file_info* fi) {
  fuse_entry_param e{};
  Status s = fill_entry(n, &e);
  if (!s.ok()) {
    fuse_reply_err(req, s.error());
    return;
  }
  fi->fh = reinterpret_cast<uintptr_t>(h.get());
  if (fuse_reply_create(req, &e, fi) == 0)
    h.release();
  else
    m_nodes.forget(e.ino, 1);
}

void Filesystem::create(fuse_req_t req, fuse_ino_t parent, const char* name_c, mode_t mode,
                        fuse_file_info* fi) {
  Node p;
  if (!resolve(req, parent, &p)) return;
  std::string name = name_c;
  if (!S_ISREG(mode)) {
    fuse_reply_err(req, EPERM);
    return;
  }
  auto h = std::make_unique<Handle>();
  Node n;
  if (p.kind == NodeKind::SNAPDIR) {
    // touch .snap/<image>/<name>: take a snapshot
    if (!core::valid_rbd_name(name) || m_opts.read_only) {
      fuse_reply_err(req, m_opts.read_only ? EROFS : EINVAL);
      return;
    }
    auto img = open_image(p.pool, p.image);
    auto id = img.ok() ? (*img)->snap_create(name) : core::Result<uint64_t>(img.err());
    if (!id.ok()) {
      if (img.ok())
        spdlog::warn("snapshot {}/{}@{}: {}", p.pool, p.image, name, id.err().message());
      fuse_reply_err(req, id.error());
      return;
    }
    h->set_image(*img);
    h->snap_id = *id;
    n = Node{NodeKind::SNAP, p.pool, p.image, name, ""};
  } else {
    bool created = false;
    Status s = create_in_pool(p, name, fi->flags & O_EXCL, &created);
    if (created) own_new_image(req, p.pool, name, mode);
    auto img =
        s.ok() ? open_image(p.pool, name) : core::Result<std::shared_ptr<core::Image>>(s.err());
    if (!img.ok()) {
      fuse_reply_err(req, img.error());
      return;
    }
    bool want_write = (fi->flags & O_ACCMODE) != O_RDONLY;
    if (want_write && !(*img)->read_only_reason().empty()) {
      fuse_reply_err(req, EROFS);
      return;
    }
    if (!created && (fi->flags & O_TRUNC) && want_write) {
      Status t = (*img)->resize(0);
      if (!t.ok()) {
        fuse_reply_err(req, t.error());
        return;
      }
    }
    h->set_image(*img);
    h->writable = want_write;
    n = Node{NodeKind::IMAGE, p.pool, name, "", ""};
  }
  reply_create(req, n, std::move(h), fi);
}

void Filesystem::mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Node p;
  if (!resolve(req, parent, &p)) return;
  // No devices, fifos or sockets; a regular mknod is a create without an open.
  bool created = false;
  Status s = S_ISREG(mode) ? create_in_pool(p, name, true, &created) : Status(Errno(EPERM));
  if (created) own_new_image(req, p.pool, name, mode);
  if (!s.ok()) {
    fuse_reply_err(req, s.error());
    return;
  }
  reply_entry(req, Node{NodeKind::IMAGE, p.pool, name, "", ""});
}

void Filesystem::read(fuse_req_t req, fuse_ino_t, size_t size, off_t off, fuse_file_info* fi) {
  read_from(req, handle_of(fi), size, off, false);
}

void Filesystem::read_from(fuse_req_t req, Handle* h, size_t size, off_t off, bool again) {
  auto img = h->image();
  if (img->blocklisted()) {
    // A read-only description moves to a new instance: connecting and
    // opening wait on the cluster, so that happens on a work thread (never
    // on io_uring's ring thread).
    if (!again && !h->writable) {
      m_work.post([this, req, h, size, off] { read_from(req, h, size, off, true); });
      return;
    }
    img = image_of(h);  // null: fenced
    // another read of the description may be moving it: wait for that
    // (readahead and async direct I/O have several under way at once)
    for (auto until = Clock::now() + RECONNECT_WAIT;
         img && img->blocklisted() && h->reopening && Clock::now() < until; img = image_of(h))
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (img && img->blocklisted()) img = image_of(h);  // (the move ended just now)
  }
  if (!img) {
    fuse_reply_err(req, ESHUTDOWN);
    return;
  }
  img->aio_read_piece(
      h->snap_id, static_cast<uint64_t>(off), size, m_read_piece, m_opts.gather_reads,
      [this, req, h, size, off, again](Result<core::ReadData> r) {
        if (r.error() == ESHUTDOWN && !h->writable && !again) {
          // our instance was blocklisted (and is marked now):
          // a read-only description reads on through a new
          // one, opened off this librados thread
          m_work.post([this, req, h, size, off] { read_from(req, h, size, off, true); });
          return;
        }
        if (!r.ok()) {
          fuse_reply_err(req, r.error());
          return;
        }
        // Straight from RADOS' buffers to the kernel: no copy
        // here (writev's iovec count is bounded by IOV_MAX).
        std::vector<iovec> iov = r->iov();
        if (iov.size() < 512) {
          fuse_reply_iov(req, iov.data(), static_cast<int>(iov.size()));
        } else {
          std::string flat = r->to_string();
          fuse_reply_buf(req, flat.data(), flat.size());
        }
      });
}

void Filesystem::write(fuse_req_t req, fuse_ino_t, fuse_bufvec* bufv, off_t off,
                       fuse_file_info* fi) {
  Handle* h = handle_of(fi);
  if (!h->writable) {
    fuse_reply_err(req, EBADF);
    return;
  }
  // The data goes into memory the core keeps (no second copy): from the
  // splice pipe when the kernel handed the page cache's pages over
  // (FUSE_CAP_SPLICE_READ), else from libfuse's request buffer.
  const size_t size = fuse_buf_size(bufv);
  core::WriteBuffer data = core::WriteBuffer::allocate(size);
  if (!data.data()) {
    fuse_reply_err(req, ENOMEM);
    return;
  }
  fuse_bufvec dst = FUSE_BUFVEC_INIT(size);
  dst.buf[0].mem = data.data();
  ssize_t got = fuse_buf_copy(&dst, bufv, static_cast<fuse_buf_copy_flags>(0));
  if (got < 0 || static_cast<size_t>(got) != size) {
    spdlog::warn("write: reading {} bytes of data from the kernel: {}", size,
                 got < 0 ? strerror(static_cast<int>(-got)) : "short read");
    fuse_reply_err(req, got < 0 ? static_cast<int>(-got) : EIO);
    return;
  }
  auto img = image_of(h);
  if (!img) {
    fuse_reply_err(req, ESHUTDOWN);
    return;
  }
  // errseq: this description reports what fails from its first write on
  std::call_once(h->first_write, [h, &img] {
    h->error_cursor = img->error_mark();
    h->wrote = true;
  });
  const bool stable = (fi->flags & O_DSYNC) != 0;
  const uint64_t end = static_cast<uint64_t>(off) + size;
  // Over io_uring, what would wait before the write is sent (taking the
  // exclusive lock, a snapshot under way, recording a stable write's new
  // size) waits on a thread of ours, not on the ring thread that
  // delivered it (fuse/uring.h). Racy by nature (the lock may go just
  // after): the ring thread then waits, as a FUSE worker would.
  if (m_by_ring && (img->write_would_wait() || (stable && end > img->header()->size))) {
    auto held = std::make_shared<core::WriteBuffer>(std::move(data));
    m_work.post([this, req, img, off, held, stable] {
      send_write(req, img, off, std::move(*held), stable);
    });
    return;
  }
  send_write(req, img, off, std::move(data), stable);
}

void Filesystem::send_write(fuse_req_t req, const std::shared_ptr<core::Image>& img, off_t off,
                            core::WriteBuffer data, bool stable) {
  const size_t size = data.size();
  const uint64_t end = static_cast<uint64_t>(off) + size;
  if (end > img->header()->size) {
    // Growing costs a write nothing unless it is stable (O_DSYNC): its
    // acknowledgement then includes the new size.
    Status s = stable ? img->grow_to(end) : img->grow_async(end, static_cast<uint64_t>(off));
    if (!s.ok()) {
      spdlog::warn("growing {} to {}: {}", img->header()->name, end, s.err().message());
      fuse_reply_err(req, s.error());
      return;
    }
  }
  // O_SYNC / O_DSYNC writers (qemu cache=directsync, dd oflag=dsync) get
  // their write acknowledged only once RADOS has it: without this, an
  // O_DSYNC write RADOS refused still succeeded, with or without O_DIRECT
  // (the kernel sent no fsync that could fail; tests/cluster/test_mount.sh).
  img->aio_write(
      static_cast<uint64_t>(off), std::move(data),
      [req, size](Status s) {
        if (!s.ok())
          fuse_reply_err(req, s.error());
        else
          fuse_reply_write(req, size);
      },
      stable);
}

void Filesystem::copy_file_range(fuse_req_t req, fuse_file_info* fi_in, off_t off_in,
                                 fuse_file_info* fi_out, off_t off_out, size_t len, int flags) {
  Handle* in = handle_of(fi_in);
  Handle* out = handle_of(fi_out);
  if (flags != 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  if (!out->writable) {
    fuse_reply_err(req, EBADF);
    return;
  }
  auto src = image_of(in);
  auto dst = image_of(out);
  if (!src || !dst) {
    fuse_reply_err(req, ESHUTDOWN);
    return;
  }
  auto src_size = src->header()->size_at(in->snap_id);
  if (!src_size.ok()) {
    fuse_reply_err(req, src_size.error());
    return;
  }
  const auto from = static_cast<uint64_t>(off_in), to = static_cast<uint64_t>(off_out);
  if (from >= *src_size || len == 0) {
    fuse_reply_write(req, 0);
    return;
  }
  // the reply's count is 32 bits: a bigger copy comes back short, and the
  // caller goes on from there
  const uint64_t n = std::min<uint64_t>({len, *src_size - from, MAX_COPY});
  std::call_once(out->first_write, [out, &dst] {
    out->error_cursor = dst->error_mark();
    out->wrote = true;
  });
  if (to + n > dst->header()->size) {
    Status s = dst->grow_to(to + n);
    if (!s.ok()) {
      spdlog::warn("copy into {}: growing to {}: {}", dst->header()->name, to + n,
                   s.err().message());
      fuse_reply_err(req, s.error() == EROFS ? EROFS : EOPNOTSUPP);
      return;
    }
  }
  core::Image::CopyStats stats;
  auto r = dst->copy_from(*src, in->snap_id, from, to, n, &stats);
  forget_blocks(dst->header()->pool, dst->header()->id);
  if (!r.ok()) {
    // Never a partial copy called whole: EOPNOTSUPP makes the kernel (or
    // the caller) copy the range again by reading and writing, which
    // meets the real error, if any, where it belongs.
    spdlog::warn("copy {} -> {}: {} (the kernel falls back to read and write)", src->header()->name,
                 dst->header()->name, r.err().message());
    fuse_reply_err(req, EOPNOTSUPP);
    return;
  }
  fuse_reply_write(req, static_cast<size_t>(*r));
}

void Filesystem::flush(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  // close() (of any dup of the descriptor): every write sent before is in
  // RADOS; errors this description has not had reported by an fsync are
  // the answer (not consumed: a child's close at exec must not swallow
  // them). The handle outlives the request (release comes after).
  sync(req, handle_of(fi), false);
}

void Filesystem::fsync(fuse_req_t req, fuse_ino_t, int, fuse_file_info* fi) {
  // fsync(): the same, and each error is reported once.
  sync(req, handle_of(fi), true);
}

void Filesystem::sync(fuse_req_t req, Handle* h, bool consume) {
  auto img = image_of(h);
  if (!img) {
    fuse_reply_err(req, ESHUTDOWN);
    return;
  }
  // (the callback may hold the last reference: an image's deleter never
  // destroys it on a librados thread, see ImageImpl::open)
  img->aio_drain([this, req, h, img, consume](Status s) {
    if (h->wrote) {  // what it wrote is in now: st_blocks is counted again
      auto hdr = img->header();
      forget_blocks(hdr->pool, hdr->id);
    }
    if (s.ok() && h->wrote) s = img->check_errors(&h->error_cursor, consume);
    fuse_reply_err(req, s.error());
  });
}

void Filesystem::release(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  std::unique_ptr<Handle> h(handle_of(fi));
  auto img = h->image();
  if (h->writable) (void)img->drain();  // errors went to close()'s flush
  auto hdr = img->header();
  img.reset();
  std::string key = image_key(hdr->pool, hdr->id);
  forget_header(hdr->pool, hdr->name);
  if (h->wrote) forget_blocks(hdr->pool, hdr->id);
  h.reset();
  {
    std::lock_guard<std::mutex> l(m_images_mu);
    auto it = m_open.find(key);
    if (it != m_open.end() && it->second.expired()) m_open.erase(it);
  }
  fuse_reply_err(req, 0);
}

void Filesystem::fallocate(fuse_req_t req, fuse_ino_t, int mode, off_t off, off_t len,
                           fuse_file_info* fi) {
  Handle* h = handle_of(fi);
  if (!h->writable) {
    fuse_reply_err(req, EBADF);
    return;
  }
  auto uoff = static_cast<uint64_t>(off), ulen = static_cast<uint64_t>(len);
  const int known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
  if (mode & ~known) {
    fuse_reply_err(req, EOPNOTSUPP);
    return;
  }
  auto img = image_of(h);
  if (!img) {
    fuse_reply_err(req, ESHUTDOWN);
    return;
  }
  if (!(mode & FALLOC_FL_KEEP_SIZE) && uoff + ulen > img->header()->size) {
    Status s = img->grow_to(uoff + ulen);
    if (!s.ok()) {
      fuse_reply_err(req, s.error());
      return;
    }
  }
  if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
    img->aio_discard(uoff, ulen, [req](Status s) { fuse_reply_err(req, s.error()); });
    return;
  }
  fuse_reply_err(req, 0);  // thin: nothing to allocate
}

void Filesystem::lseek(fuse_req_t req, fuse_ino_t, off_t off, int whence, fuse_file_info* fi) {
  Handle* h = handle_of(fi);
  if (off < 0) {
    fuse_reply_err(req, ENXIO);
    return;
  }
  if (whence != SEEK_DATA && whence != SEEK_HOLE) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  // Stripe-unit granularity: "data" means the unit lies in an existing
  // object. Looks only at objects from `off` on.
  auto img = image_of(h);
  auto r = img ? img->seek(h->snap_id, static_cast<uint64_t>(off), whence == SEEK_DATA)
               : Result<uint64_t>(Errno(ESHUTDOWN));
  if (!r.ok())
    fuse_reply_err(req, r.error());
  else
    fuse_reply_lseek(req, static_cast<off_t>(*r));
}

}  // namespace rbdfs::ll
