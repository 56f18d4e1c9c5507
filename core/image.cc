#include "core/image.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <future>
#include <thread>

#include "core/cls_call.h"
#include "core/features.h"

namespace rbdfs::core {

using detail::cls_exec;
using detail::cls_write;
using detail::to_bl;
using detail::view;
using librados::bufferlist;

namespace {

// One exec call inside a compound read op.
struct Exec {
  bufferlist out;
  int rval = 0;
};

void add_exec(librados::ObjectReadOperation* op, const char* method, const std::string& in, Exec* e,
              bool failok = false) {
  bufferlist inbl = to_bl(in);
  op->exec("rbd", method, inbl, &e->out, &e->rval);
  if (failok) op->set_op_flags2(LIBRADOS_OP_FLAG_FAILOK);
}

template <typename T>
Result<T> decoded(Result<T> r, const char* what, const std::string& oid) {
  if (!r.ok()) spdlog::error("malformed {} reply from {}: treating as EIO", what, oid);
  return r;
}

}  // namespace

bool valid_rbd_name(const std::string& name) {
  if (name.empty() || name.size() > 255) return false;
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (c == '/' || c == '@' || c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

const cls::SnapshotInfo* ImageHeader::find_snap(const std::string& n) const {
  for (const auto& s : snapshots)
    if (s.name == n && s.ns_type == cls::SNAP_NS_USER) return &s;
  return nullptr;
}

const cls::SnapshotInfo* ImageHeader::find_snap_id(uint64_t snap_id) const {
  for (const auto& s : snapshots)
    if (s.id == snap_id) return &s;
  return nullptr;
}

Result<ImageHeader> read_header(librados::IoCtx& md, const std::string& pool,
                                const std::string& name, const std::string& id) {
  const std::string oid = "rbd_header." + id;
  for (int attempt = 0;; ++attempt) {
    ImageHeader h;
    h.pool = pool;
    h.name = name;
    h.id = id;

    // One round trip for what every image has.
    Exec size, prefix, feat_ro, snapc, flags;
    librados::ObjectReadOperation op1;
    add_exec(&op1, "get_size", cls::enc_snap_id(cls::NOSNAP), &size);
    add_exec(&op1, "get_object_prefix", "", &prefix);
    add_exec(&op1, "get_features", cls::enc_get_features(cls::NOSNAP, true), &feat_ro);
    add_exec(&op1, "get_snapcontext", "", &snapc);
    add_exec(&op1, "get_flags", cls::enc_snap_id(cls::NOSNAP), &flags);
    int r = md.operate(oid, &op1, nullptr);
    if (r < 0) return Errno::from_rados(r);

    auto sz = decoded(cls::dec_size(view(size.out)), "get_size", oid);
    auto pf = decoded(cls::dec_string(view(prefix.out)), "get_object_prefix", oid);
    auto ft = decoded(cls::dec_features(view(feat_ro.out)), "get_features", oid);
    auto sc = decoded(cls::dec_snapcontext(view(snapc.out)), "get_snapcontext", oid);
    auto fl = decoded(cls::dec_u64(view(flags.out)), "get_flags", oid);
    if (!sz || !pf || !ft || !sc || !fl) return Errno(EIO);
    h.size = sz->size;
    h.order = sz->order;
    h.object_prefix = *pf;
    h.features = ft->features;
    h.snapc = *sc;
    h.flags = *fl;
    if (h.order < 12 || h.order > 32 || h.object_prefix.empty()) {
      spdlog::error("image {}/{}: implausible header (order {}, prefix '{}')", pool, name, h.order,
                    h.object_prefix);
      return Errno(EIO);
    }

    // Refuse what we cannot read.
    uint64_t cannot_read = ft->incompatible & ~FEATURES_READ_SUPPORTED;
    if (cannot_read) {
      h.unreadable_reason = "features rbdfs cannot read: " + feature_names(cannot_read);
      h.read_only_reason = h.unreadable_reason;
      h.layout = Layout::make(1ull << h.order, 0, 0);
      return h;
    }

    // Second round trip: optional parts.
    Exec stripe, data_pool, parent, ctime, mtime;
    librados::ObjectReadOperation op2;
    bool want_stripe = h.features & FEATURE_STRIPINGV2;
    bool want_dp = h.features & FEATURE_DATA_POOL;
    if (want_stripe) add_exec(&op2, "get_stripe_unit_count", "", &stripe);
    if (want_dp) add_exec(&op2, "get_data_pool", "", &data_pool);
    add_exec(&op2, "parent_get", "", &parent, true);
    add_exec(&op2, "get_create_timestamp", "", &ctime, true);
    add_exec(&op2, "get_modify_timestamp", "", &mtime, true);
    // snapshot records, in one go
    std::vector<Exec> snaps(h.snapc.snaps.size());
    for (size_t i = 0; i < snaps.size(); ++i)
      add_exec(&op2, "snapshot_get", cls::enc_snap_id(h.snapc.snaps[i]), &snaps[i], true);
    r = md.operate(oid, &op2, nullptr);
    if (r < 0) return Errno::from_rados(r);

    uint64_t su = 0, sc_count = 0;
    if (want_stripe) {
      auto st = decoded(cls::dec_stripe(view(stripe.out)), "get_stripe_unit_count", oid);
      if (!st) return Errno(EIO);
      su = st->unit;
      sc_count = st->count;
    }
    h.layout = Layout::make(1ull << h.order, su, sc_count);
    if (!h.layout.valid()) {
      spdlog::error("image {}/{}: invalid striping (object size {}, unit {}, count {})", pool, name,
                    h.layout.object_size, su, sc_count);
      return Errno(EIO);
    }
    if (want_dp) {
      auto dp = decoded(cls::dec_i64(view(data_pool.out)), "get_data_pool", oid);
      if (!dp) return Errno(EIO);
      h.data_pool_id = *dp;
    }
    if (parent.rval == 0) {
      auto p = decoded(cls::dec_parent(view(parent.out)), "parent_get", oid);
      if (!p) return Errno(EIO);
      h.parent = *p;
    }
    if (ctime.rval == 0) {
      if (auto t = cls::dec_utime(view(ctime.out))) h.create_timestamp = *t;
    }
    if (mtime.rval == 0) {
      if (auto t = cls::dec_utime(view(mtime.out))) h.modify_timestamp = *t;
    }
    bool raced = false;
    for (size_t i = 0; i < snaps.size(); ++i) {
      if (snaps[i].rval == -ENOENT) {
        raced = true;  // removed between the two reads
        break;
      }
      if (snaps[i].rval < 0) return Errno::from_rados(snaps[i].rval);
      auto s = decoded(cls::dec_snapshot_info(view(snaps[i].out)), "snapshot_get", oid);
      if (!s) return Errno(EIO);
      h.snapshots.push_back(*s);
    }
    if (raced) {
      if (attempt < 5) continue;
      return Errno(EAGAIN);
    }
    std::sort(h.snapshots.begin(), h.snapshots.end(),
              [](const auto& a, const auto& b) { return a.id < b.id; });

    if (h.parent.exists())
      h.unreadable_reason = "clone of a parent image: rbdfs does not read clones yet";
    else if (h.features & FEATURE_MIGRATING)
      h.unreadable_reason = "image is being migrated";
    uint64_t cannot_write = h.features & ~FEATURES_WRITE_SUPPORTED;
    if (!h.unreadable_reason.empty())
      h.read_only_reason = h.unreadable_reason;
    else if (cannot_write)
      h.read_only_reason = "features rbdfs cannot write safely yet: " + feature_names(cannot_write);
    return h;
  }
}

// ---------------------------------------------------------------------------
// Header watch: another client changed the header (snapshot, resize, ...).

class Image::Watcher : public librados::WatchCtx2 {
 public:
  explicit Watcher(std::weak_ptr<Image> image) : m_image(std::move(image)) {}
  void handle_notify(uint64_t notify_id, uint64_t cookie, uint64_t notifier_id,
                     bufferlist&) override {
    auto img = m_image.lock();
    if (!img) return;
    if (notifier_id == img->m_cluster->instance_id()) {
      // Our own notify (a grow, a resize, a snapshot): our header is
      // already current. notify_ack does not wait for the OSD.
      bufferlist empty;
      img->m_md.notify_ack(img->m_header_oid, notify_id, cookie, empty);
      return;
    }
    // librados delivers watch callbacks and aio completions on the same
    // finisher: waiting here for our writes to complete would deadlock it.
    // Handle the notify on a thread of its own (notifies are rare).
    std::thread([img, notify_id, cookie, notifier_id] {
      img->handle_notify(notify_id, cookie, notifier_id);
    }).detach();
  }
  void handle_error(uint64_t, int err) override {
    if (auto img = m_image.lock()) {
      spdlog::warn("image {}: header watch lost ({}), re-watching", img->header()->name,
                   Errno::from_rados(err).message());
      img->rewatch();
    }
  }

 private:
  std::weak_ptr<Image> m_image;
};

void Image::handle_notify(uint64_t notify_id, uint64_t cookie, uint64_t notifier_id) {
  // Another client changed the header; a snapshot may be about to be
  // taken: let our writes land first (their errors stay for the writers),
  // then pick up the new snapshot context before acknowledging.
  spdlog::debug("image {}: header notify from client {}", header()->name, notifier_id);
  (void)drain();
  Status s = refresh();
  if (!s.ok() && s.error() != ENOENT)
    spdlog::warn("image {}: refresh after header notify failed: {}", header()->name,
                 s.err().message());
  bufferlist empty;
  m_md.notify_ack(m_header_oid, notify_id, cookie, empty);
}

void Image::rewatch() {
  uint64_t old = m_watch_handle.exchange(0);
  if (old) m_md.unwatch2(old);
  uint64_t handle = 0;
  if (m_md.watch2(m_header_oid, &handle, m_watcher.get()) == 0) m_watch_handle = handle;
  (void)refresh();
}

// Tells other clients the header changed, without waiting for them: one
// notify in flight at a time; changes made while it is out are announced
// by one more when it completes (so a run of grows costs one or two).
//
//   IDLE --post--> SENDING --done--> IDLE
//                   |   ^
//              post |   | done (again was set)
//                   v   |
//               SENDING+again
struct Image::Notifier {
  librados::IoCtx io;
  std::string oid;
  std::mutex mu;
  std::condition_variable cv;
  bool in_flight = false;  // GUARDED_BY(mu)
  bool again = false;      // GUARDED_BY(mu)
  librados::AioCompletion* completion = nullptr;
  bufferlist reply;

  void post() {
    {
      std::lock_guard<std::mutex> l(mu);
      if (in_flight) {
        again = true;
        return;
      }
      in_flight = true;
    }
    send();
  }
  void send() {
    reply.clear();
    bufferlist empty;  // the legacy "header update" that librbd and krbd honour
    completion = librados::Rados::aio_create_completion(this, &Notifier::done);
    int r = io.aio_notify(oid, completion, empty, 5000, &reply);
    if (r < 0) {
      completion->release();
      finish();
    }
  }
  static void done(librados::completion_t, void* arg) {
    auto* n = static_cast<Notifier*>(arg);
    n->completion->release();
    n->finish();
  }
  void finish() {
    std::unique_lock<std::mutex> l(mu);
    if (again) {
      again = false;
      l.unlock();
      send();
      return;
    }
    in_flight = false;
    cv.notify_all();  // under mu: the image may be destroyed right after
  }
  void wait_idle() {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [this] { return !in_flight; });
  }
};

void Image::notify_header_update() { m_notifier->post(); }

// ---------------------------------------------------------------------------

Image::Image(std::shared_ptr<Cluster> cluster, librados::IoCtx md)
    : m_cluster(std::move(cluster)), m_md(std::move(md)) {}

Image::~Image() {
  if (m_notifier) m_notifier->wait_idle();
  if (uint64_t h = m_watch_handle.exchange(0)) {
    m_md.unwatch2(h);
    m_cluster->rados().watch_flush();
  }
}

Result<std::shared_ptr<Image>> Image::open(std::shared_ptr<Cluster> cluster, librados::IoCtx md,
                                           const std::string& pool, const std::string& name,
                                           const OpenOptions& options) {
  auto id = options.id.empty() ? detail::image_id(md, pool, name) : Result<std::string>(options.id);
  if (!id.ok()) return id.err();
  auto h = read_header(md, pool, name, *id);
  if (!h.ok()) return h.err();
  if (!h->unreadable_reason.empty()) {
    spdlog::warn("image {}/{}: cannot open: {}", pool, name, h->unreadable_reason);
    return Errno(EOPNOTSUPP);
  }
  std::shared_ptr<Image> img(new Image(std::move(cluster), std::move(md)));
  img->m_force_read_only = options.read_only;
  img->m_header_oid = "rbd_header." + *id;
  img->m_notifier = std::make_unique<Notifier>();
  img->m_notifier->io.dup(img->m_md);
  img->m_notifier->oid = img->m_header_oid;
  if (h->data_pool_id >= 0) {
    auto io = img->m_cluster->open_pool_id(h->data_pool_id);
    if (!io.ok()) {
      spdlog::error("image {}/{}: cannot open data pool {}: {}", pool, name, h->data_pool_id,
                    io.err().message());
      return io.err();
    }
    img->m_data = std::move(*io);
  } else {
    img->m_data.dup(img->m_md);
  }
  if (options.read_only && h->read_only_reason.empty()) h->read_only_reason = "opened read-only";
  img->m_header = std::make_shared<const ImageHeader>(std::move(*h));
  if (options.watch) {
    img->m_watcher = std::make_unique<Watcher>(img->weak_from_this());
    uint64_t handle = 0;
    int r = img->m_md.watch2(img->m_header_oid, &handle, img->m_watcher.get());
    if (r < 0)
      spdlog::warn("image {}/{}: cannot watch header: {}", pool, name,
                   Errno::from_rados(r).message());
    else
      img->m_watch_handle = handle;
  }
  return img;
}

std::shared_ptr<const ImageHeader> Image::header() const {
  std::lock_guard<std::mutex> l(m_header_mu);
  return m_header;
}

Status Image::refresh() {
  for (int attempt = 0;; ++attempt) {
    std::shared_ptr<const ImageHeader> cur;
    uint64_t gen;
    {
      std::lock_guard<std::mutex> l(m_header_mu);
      cur = m_header;
      gen = m_header_gen;
    }
    auto h = read_header(m_md, cur->pool, cur->name, cur->id);
    if (!h.ok()) return h.err();
    if (m_force_read_only && h->read_only_reason.empty()) h->read_only_reason = "opened read-only";
    uint64_t pending;
    {
      std::lock_guard<std::mutex> l(m_size_mu);
      pending = std::max(m_bg_target, m_bg_sent);
    }
    std::lock_guard<std::mutex> l(m_header_mu);
    // We grew the image while the header was being read: what was read
    // may predate it. Read again rather than install an older size.
    if (m_header_gen != gen && attempt < 3) continue;
    // A background grow not yet recorded: our size is ahead of the object's.
    if (pending) h->size = std::max(h->size, m_header->size);
    m_header = std::make_shared<const ImageHeader>(std::move(*h));
    return {};
  }
}

Status Image::grow_header(uint64_t size) {
  RBDFS_TRY(cls_write(m_md, m_header_oid, "set_size", cls::enc_set_size(size)));
  {
    std::lock_guard<std::mutex> l(m_header_mu);
    if (m_header->size < size) {
      auto next = std::make_shared<ImageHeader>(*m_header);
      next->size = size;
      m_header = std::move(next);
    }
    ++m_header_gen;
  }
  notify_header_update();
  return {};
}

Status Image::prepare_write(const ImageHeader& h) const {
  // The seam for exclusive-lock and object-map: take the lock and mark the
  // objects about to be written EXISTS here, before the data write.
  if (!h.read_only_reason.empty()) return Errno(EROFS);
  return {};
}

// ---------------------------------------------------------------------------
// Asynchronous object I/O.

namespace {
// Holes of a read point here; never written (.bss, so it costs no memory).
char g_zeros[1 << 20];
}  // namespace

void ReadData::index() {
  m_pieces.clear();
  for (const Part& part : m_parts) {
    // The reply holds the object's bytes from ext.offset on, possibly
    // fewer than asked for (a short object); ext.buffer says where each
    // run of them goes, in object order.
    auto seg = part.bl.buffers().begin();
    auto seg_end = part.bl.buffers().end();
    uint64_t seg_pos = 0;  // bytes of *seg already used
    for (const BufferExtent& b : part.ext.buffer) {
      uint64_t want = b.length, at = b.buffer_offset;
      while (want > 0 && seg != seg_end) {
        uint64_t avail = seg->length() - seg_pos;
        if (avail == 0) {
          ++seg;
          seg_pos = 0;
          continue;
        }
        uint64_t n = std::min(want, avail);
        m_pieces.push_back(Piece{at, seg->c_str() + seg_pos, n});
        seg_pos += n;
        at += n;
        want -= n;
      }
      if (seg == seg_end) break;
    }
  }
  // Plain layouts already come in order; fancy striping interleaves.
  if (!std::is_sorted(m_pieces.begin(), m_pieces.end(), [](const Piece& a, const Piece& b) {
        return a.buffer_offset < b.buffer_offset;
      }))
    std::sort(m_pieces.begin(), m_pieces.end(),
              [](const Piece& a, const Piece& b) { return a.buffer_offset < b.buffer_offset; });
}

std::vector<iovec> ReadData::iov() const {
  std::vector<iovec> out;
  out.reserve(m_pieces.size() + 2);
  auto zeros = [&out](uint64_t n) {
    while (n > 0) {
      uint64_t k = std::min<uint64_t>(n, sizeof(g_zeros));
      out.push_back(iovec{g_zeros, k});
      n -= k;
    }
  };
  uint64_t pos = 0;
  for (const Piece& p : m_pieces) {
    zeros(p.buffer_offset - pos);
    out.push_back(iovec{const_cast<char*>(p.data), p.length});
    pos = p.buffer_offset + p.length;
  }
  zeros(m_length - pos);
  return out;
}

void ReadData::copy_to(char* dst) const {
  for (const iovec& v : iov()) {
    std::memcpy(dst, v.iov_base, v.iov_len);
    dst += v.iov_len;
  }
}

std::string ReadData::to_string() const {
  std::string s(m_length, '\0');
  copy_to(s.data());
  return s;
}

struct Image::Aggregate {
  std::shared_ptr<Image> image;
  std::atomic<uint32_t> pending{1};  // +1 held by the submitter
  std::atomic<int> first_error{0};
  // reads: one part per object extent, filled by the completions (each
  // writes only its own part; the last put() sees them all)
  ReadData data;
  ReadCallback read_cb;
  // writes
  uint64_t write_seq = 0;
  IoCallback io_cb;
  uint64_t early_acked = 0;  // bytes of write-around budget held; cb already run

  void fail(int err) {
    int expected = 0;
    first_error.compare_exchange_strong(expected, err);
  }
  void put() {
    if (pending.fetch_sub(1) != 1) return;
    int err = first_error.load();
    // Drop our reference to the image before calling back: the caller may
    // be waiting on the callback to release the last reference, and an
    // image (and its cluster) must never be destroyed on a librados thread.
    std::shared_ptr<Image> img = std::move(image);
    if (early_acked) img->m_cluster->release_writearound(early_acked);
    std::vector<IoCallback> drained;
    if (write_seq) drained = img->end_write(write_seq, early_acked ? err : 0);
    img.reset();
    // Whoever waits on a drain still holds the image, so the reset above
    // was not the last reference in that case.
    for (auto& f : drained) f(Status());
    if (read_cb) {
      ReadCallback cb = std::move(read_cb);
      if (err) {
        cb(Errno(err));
      } else {
        data.index();
        cb(std::move(data));
      }
    } else if (io_cb) {
      IoCallback cb = std::move(io_cb);
      cb(err ? Status(Errno(err)) : Status());
    }
  }
};

struct Image::ObjectOp {
  std::shared_ptr<Aggregate> agg;
  Cluster* cluster = nullptr;
  librados::AioCompletion* completion = nullptr;
  bufferlist bl;                    // writes: unused; reads go to read_into
  bufferlist* read_into = nullptr;  // reads: the part's reply
  bool is_read = false;
  bool ignore_enoent = false;
};

void Image::object_op_done(librados::completion_t, void* arg) {
  auto* op = static_cast<ObjectOp*>(arg);
  int r = op->completion->get_return_value();
  if (op->is_read) {
    // An absent object reads as zeros: its part stays empty.
    if (r < 0 && r != -ENOENT) op->agg->fail(-r);
  } else if (r < 0 && !(r == -ENOENT && op->ignore_enoent)) {
    op->agg->fail(-r);
  }
  op->completion->release();
  op->cluster->release_slot();
  auto agg = std::move(op->agg);
  delete op;
  agg->put();
}

void Image::submit_read(const std::shared_ptr<Aggregate>& agg, const ImageHeader& h,
                        uint64_t snap_id, size_t part) {
  const ObjectExtent& ext = agg->data.m_parts[part].ext;
  auto* op = new ObjectOp;
  op->agg = agg;
  op->cluster = m_cluster.get();
  op->read_into = &agg->data.m_parts[part].bl;
  op->is_read = true;
  op->completion = librados::Rados::aio_create_completion(op, &Image::object_op_done);
  agg->pending.fetch_add(1);
  m_cluster->acquire_slot();
  int r = m_data.aio_read(object_name(h.object_prefix, ext.object_no), op->completion,
                          op->read_into, ext.length, ext.offset, snap_id);
  if (r < 0) {
    op->completion->release();
    m_cluster->release_slot();
    agg->fail(-r);
    delete op;
    agg->put();
  }
}

void Image::submit_write(const std::shared_ptr<Aggregate>& agg, const ImageHeader& h,
                         const std::string& oid, librados::ObjectWriteOperation* wop,
                         bool ignore_enoent) {
  auto* op = new ObjectOp;
  op->agg = agg;
  op->cluster = m_cluster.get();
  op->ignore_enoent = ignore_enoent;
  op->completion = librados::Rados::aio_create_completion(op, &Image::object_op_done);
  agg->pending.fetch_add(1);
  m_cluster->acquire_slot();
  int r;
  if (h.snapc.seq == 0 && h.snapc.snaps.empty()) {
    r = m_data.aio_operate(oid, op->completion, wop);
  } else {
    std::vector<librados::snap_t> snaps(h.snapc.snaps.begin(), h.snapc.snaps.end());
    r = m_data.aio_operate(oid, op->completion, wop, h.snapc.seq, snaps);
  }
  if (r < 0) {
    op->completion->release();
    m_cluster->release_slot();
    agg->fail(-r);
    delete op;
    agg->put();
  }
}

uint64_t Image::begin_write() {
  std::lock_guard<std::mutex> l(m_inflight_mu);
  uint64_t seq = m_next_seq++;
  m_pending.insert(seq);
  return seq;
}

std::vector<Image::IoCallback> Image::end_write(uint64_t seq, int deferred_error) {
  if (deferred_error)
    spdlog::error(
        "image {}: a write acknowledged early failed ({}, errno {}): the next fsync or close of "
        "each descriptor that wrote reports it",
        header()->name, Errno(deferred_error).message(), deferred_error);
  std::vector<IoCallback> ready;
  std::lock_guard<std::mutex> l(m_inflight_mu);
  m_pending.erase(seq);
  if (deferred_error) {
    ++m_error_seq;
    m_last_error = deferred_error;
  }
  // A drainer keyed K waits for every write with seq <= K.
  auto end = m_drainers.begin();
  while (end != m_drainers.end() && (m_pending.empty() || end->first < *m_pending.begin())) ++end;
  for (auto it = m_drainers.begin(); it != end; ++it) ready.push_back(std::move(it->second));
  m_drainers.erase(m_drainers.begin(), end);
  return ready;
}

uint64_t Image::error_mark() const {
  std::lock_guard<std::mutex> l(m_inflight_mu);
  return m_error_seq;
}

Status Image::check_errors(std::atomic<uint64_t>* cursor, bool advance) const {
  std::lock_guard<std::mutex> l(m_inflight_mu);
  uint64_t seen = advance ? cursor->exchange(m_error_seq) : cursor->load();
  if (seen == m_error_seq) return {};
  return Errno(m_last_error);
}

void Image::aio_read(uint64_t snap_id, uint64_t off, uint64_t len, ReadCallback cb) {
  auto h = header();
  uint64_t size = h->size;
  if (snap_id != cls::NOSNAP) {
    const cls::SnapshotInfo* s = h->find_snap_id(snap_id);
    if (!s) {
      cb(Errno(ENOENT));
      return;
    }
    size = s->image_size;
  }
  if (off >= size || len == 0) {
    cb(ReadData());
    return;
  }
  len = std::min(len, size - off);
  auto agg = std::make_shared<Aggregate>();
  agg->image = shared_from_this();
  agg->read_cb = std::move(cb);
  agg->data.m_length = len;
  // Every part exists before the first submit: completions write into
  // them while later parts are still being submitted.
  std::vector<ObjectExtent> exts = map_extent(h->layout, off, len);
  agg->data.m_parts.reserve(exts.size());
  for (auto& ext : exts) agg->data.m_parts.push_back(ReadData::Part{std::move(ext), {}});
  for (size_t i = 0; i < agg->data.m_parts.size(); ++i) submit_read(agg, *h, snap_id, i);
  agg->put();
}

void Image::aio_write(uint64_t off, const char* data, uint64_t len, IoCallback cb, bool stable) {
  auto h = header();
  if (Status s = prepare_write(*h); !s.ok()) {
    cb(s);
    return;
  }
  if (off > h->size || len > h->size - off) {
    cb(Errno(EFBIG));
    return;
  }
  if (len == 0) {
    cb({});
    return;
  }
  auto agg = std::make_shared<Aggregate>();
  agg->image = shared_from_this();
  agg->io_cb = std::move(cb);
  agg->write_seq = begin_write();
  for (const auto& ext : map_extent(h->layout, off, len)) {
    librados::ObjectWriteOperation op;
    bufferlist bl;
    for (const auto& b : ext.buffer)
      bl.append(data + b.buffer_offset, static_cast<unsigned>(b.length));
    if (ext.offset == 0 && ext.length == h->layout.object_size)
      op.write_full(bl);
    else
      op.write(ext.offset, bl);
    submit_write(agg, *h, object_name(h->object_prefix, ext.object_no), &op, false);
  }
  // Write-around: acknowledge now if the budget allows; flush reports.
  if (!stable && m_cluster->reserve_writearound(len)) {
    agg->early_acked = len;
    IoCallback ack = std::move(agg->io_cb);
    agg->io_cb = nullptr;
    agg->put();
    ack({});
    return;
  }
  agg->put();
}

void Image::aio_discard(uint64_t off, uint64_t len, IoCallback cb) {
  auto h = header();
  if (Status s = prepare_write(*h); !s.ok()) {
    cb(s);
    return;
  }
  if (off >= h->size || len == 0) {
    cb({});
    return;
  }
  len = std::min(len, h->size - off);
  auto agg = std::make_shared<Aggregate>();
  agg->image = shared_from_this();
  agg->io_cb = std::move(cb);
  agg->write_seq = begin_write();
  const uint64_t os = h->layout.object_size;
  for (const auto& ext : map_extent(h->layout, off, len)) {
    librados::ObjectWriteOperation op;
    uint64_t valid = object_valid_length(h->layout, ext.object_no, h->size);
    uint64_t end = ext.offset + ext.length;
    if (ext.offset == 0 && (ext.length == os || end >= valid)) {
      op.remove();
    } else if (end >= valid) {
      op.assert_exists();
      op.truncate(ext.offset);
    } else {
      op.assert_exists();
      op.zero(ext.offset, ext.length);
    }
    submit_write(agg, *h, object_name(h->object_prefix, ext.object_no), &op, true);
  }
  agg->put();
}

void Image::aio_drain(IoCallback cb) {
  {
    std::lock_guard<std::mutex> l(m_inflight_mu);
    if (!m_pending.empty()) {
      // Ready once every write submitted so far (seq < m_next_seq) is done.
      m_drainers.emplace(m_next_seq - 1, std::move(cb));
      return;
    }
  }
  cb({});
}

void Image::aio_flush(IoCallback cb) {
  // The caller holds the image until cb runs.
  aio_drain([this, cb = std::move(cb)](Status s) {
    cb(s.ok() ? check_errors(&m_own_cursor) : s);
  });
}

Result<std::string> Image::read(uint64_t snap_id, uint64_t off, uint64_t len) {
  std::promise<Result<std::string>> p;
  auto f = p.get_future();
  aio_read(snap_id, off, len, [&p](Result<ReadData> r) {
    if (r.ok())
      p.set_value(r->to_string());
    else
      p.set_value(Errno(r.error()));
  });
  return f.get();
}

Status Image::write(uint64_t off, const char* data, uint64_t len) {
  std::promise<Status> p;
  auto f = p.get_future();
  aio_write(off, data, len, [&p](Status s) { p.set_value(s); });
  return f.get();
}

Status Image::discard(uint64_t off, uint64_t len) {
  std::promise<Status> p;
  auto f = p.get_future();
  aio_discard(off, len, [&p](Status s) { p.set_value(s); });
  return f.get();
}

Status Image::drain() {
  std::promise<Status> p;
  auto f = p.get_future();
  aio_drain([&p](Status s) { p.set_value(s); });
  return f.get();
}

Status Image::flush() {
  std::promise<Status> p;
  auto f = p.get_future();
  aio_flush([&p](Status s) { p.set_value(s); });
  return f.get();
}

// ---------------------------------------------------------------------------
// Resize

Status Image::resize(uint64_t new_size) {
  std::unique_lock<std::mutex> l(m_size_mu);
  m_size_cv.wait(l, [this] { return !m_resizing && m_bg_sent == 0; });
  m_resizing = true;
  l.unlock();
  Status s = resize_now(new_size);
  l.lock();
  m_resizing = false;
  m_size_cv.notify_all();
  return s;
}

Status Image::resize_now(uint64_t new_size) {
  auto h = header();
  RBDFS_TRY(prepare_write(*h));
  if (new_size == h->size) return {};
  if (new_size > h->size) return grow_header(new_size);
  // Trim first (so a crash never leaves data past the recorded end that a
  // later grow would expose), then record the size.
  RBDFS_TRY(drain());
  const Layout& l = h->layout;
  uint64_t set_start = (new_size / l.period()) * l.stripe_count;
  uint64_t last = object_count(l, h->size);
  auto agg = std::make_shared<Aggregate>();
  agg->image = shared_from_this();
  std::promise<Status> p;
  auto f = p.get_future();
  agg->io_cb = [&p](Status s) { p.set_value(s); };
  agg->write_seq = begin_write();
  for (uint64_t objno = set_start; objno < last; ++objno) {
    uint64_t valid = object_valid_length(l, objno, new_size);
    if (valid == l.object_size) continue;
    librados::ObjectWriteOperation op;
    if (valid == 0) {
      op.remove();
    } else {
      op.assert_exists();
      op.truncate(valid);
    }
    submit_write(agg, *h, object_name(h->object_prefix, objno), &op, true);
  }
  agg->put();
  RBDFS_TRY(f.get());
  RBDFS_TRY(cls_write(m_md, m_header_oid, "set_size", cls::enc_set_size(new_size)));
  {
    std::lock_guard<std::mutex> lk(m_header_mu);
    ++m_header_gen;  // a refresh under way read the old size
  }
  RBDFS_TRY(refresh());
  notify_header_update();
  return {};
}

Status Image::grow_to(uint64_t size) {
  std::unique_lock<std::mutex> l(m_size_mu);
  // a background grow first lands (the cached size may be ahead of it)
  m_size_cv.wait(l, [this] { return m_bg_sent == 0; });
  auto wait = m_grow_waits.insert(size);
  Status s;
  while (header()->size < size) {
    if (m_resizing) {
      m_size_cv.wait(l);
      continue;
    }
    m_resizing = true;
    // Merged: the largest size anyone is waiting for now (>= size). Only
    // callers still waiting count, so a grow never undoes a later shrink.
    uint64_t target = *m_grow_waits.rbegin();
    l.unlock();
    s = header()->size < target ? grow_header(target) : Status();
    l.lock();
    m_resizing = false;
    m_size_cv.notify_all();
    if (!s.ok()) break;
  }
  m_grow_waits.erase(wait);
  return s;
}

Status Image::grow_async(uint64_t size) {
  RBDFS_TRY(prepare_write(*header()));
  std::unique_lock<std::mutex> l(m_size_mu);
  if (m_resizing) {  // a resize or a synchronous grow: queue behind it
    l.unlock();
    return grow_to(size);
  }
  {
    std::lock_guard<std::mutex> hl(m_header_mu);
    if (m_header->size >= size) return {};
    auto next = std::make_shared<ImageHeader>(*m_header);
    next->size = size;
    m_header = std::move(next);
    ++m_header_gen;
  }
  m_bg_target = std::max(m_bg_target, size);
  if (m_bg_sent == 0) send_bg_grow(m_bg_target);
  return {};
}

struct Image::BgGrow {
  std::shared_ptr<Image> image;
  librados::AioCompletion* completion = nullptr;
  uint64_t size = 0;
  uint64_t seq = 0;  // a write of its own: drains wait for it
};

void Image::send_bg_grow(uint64_t size) {
  m_bg_sent = size;
  auto* op = new BgGrow{shared_from_this(), nullptr, size, begin_write()};
  op->completion = librados::Rados::aio_create_completion(op, &Image::bg_grow_done);
  librados::ObjectWriteOperation w;
  bufferlist in = to_bl(cls::enc_set_size(size));
  w.exec("rbd", "set_size", in);
  int r = m_md.aio_operate(m_header_oid, op->completion, &w);
  if (r < 0) {
    // Never completes: finish it on a thread of its own (we hold m_size_mu).
    std::thread([op, r] {
      op->completion->release();
      op->completion = nullptr;
      auto img = std::move(op->image);
      Image* raw = img.get();
      raw->finish_bg_grow(std::move(img), op->seq, op->size, r);
      delete op;
    }).detach();
  }
}

void Image::bg_grow_done(librados::completion_t, void* arg) {
  auto* op = static_cast<BgGrow*>(arg);
  int r = op->completion->get_return_value();
  op->completion->release();
  auto img = std::move(op->image);
  Image* raw = img.get();
  raw->finish_bg_grow(std::move(img), op->seq, op->size, r);
  delete op;
}

void Image::finish_bg_grow(std::shared_ptr<Image> self, uint64_t seq, uint64_t size, int r) {
  if (r < 0)
    spdlog::error("image {}: recording size {} failed ({}): the next fsync of its writers reports it",
                  header()->name, size, Errno::from_rados(r).message());
  {
    std::lock_guard<std::mutex> hl(m_header_mu);
    ++m_header_gen;  // a refresh that read the header object before this landed reads again
  }
  {
    std::lock_guard<std::mutex> l(m_size_mu);
    if (r == 0 && m_bg_target > size) {
      send_bg_grow(m_bg_target);  // grown further meanwhile
    } else {
      m_bg_sent = 0;
      m_bg_target = 0;
      m_size_cv.notify_all();
    }
  }
  if (r == 0) notify_header_update();
  // As Aggregate::put: drop our reference before running the drainers.
  auto ready = end_write(seq, r < 0 ? -r : 0);
  self.reset();
  for (auto& f : ready) f(Status());
}

// ---------------------------------------------------------------------------
// Snapshots

Result<uint64_t> Image::snap_create(const std::string& name) {
  if (!valid_rbd_name(name)) return Errno(EINVAL);
  auto h = header();
  RBDFS_TRY(prepare_write(*h));
  if (h->find_snap(name)) return Errno(EEXIST);
  // Everything written before the snapshot must be in it.
  RBDFS_TRY(drain());
  for (int attempt = 0; attempt < 10; ++attempt) {
    librados::snap_t id = 0;
    int r = m_data.selfmanaged_snap_create(&id);
    if (r < 0) return Errno::from_rados(r);
    Status s = cls_write(m_md, m_header_oid, "snapshot_add", cls::enc_snapshot_add(id, name));
    if (s.ok()) {
      RBDFS_TRY(refresh());
      notify_header_update();
      spdlog::info("image {}/{}: created snapshot {} (id {})", h->pool, h->name, name, id);
      return static_cast<uint64_t>(id);
    }
    m_data.selfmanaged_snap_remove(id);
    if (s.error() != ESTALE) return s.err();
    // lost a race with another snapshot: take a newer id
    RBDFS_TRY(refresh());
  }
  return Errno(EAGAIN);
}

Result<bool> Image::snap_protected(uint64_t snap_id) {
  bufferlist out;
  RBDFS_TRY(cls_exec(m_md, m_header_oid, "get_protection_status", cls::enc_snap_id(snap_id), &out));
  auto v = decoded(cls::dec_u8(view(out)), "get_protection_status", m_header_oid);
  if (!v) return v.err();
  return *v != 0;  // 0 unprotected, 1 unprotecting, 2 protected
}

Status Image::snap_remove(const std::string& name) {
  RBDFS_TRY(refresh());
  auto h = header();
  RBDFS_TRY(prepare_write(*h));
  const cls::SnapshotInfo* s = h->find_snap(name);
  if (!s) return Errno(ENOENT);
  uint64_t id = s->id;
  auto prot = snap_protected(id);
  if (!prot.ok()) return prot.err();
  if (*prot || s->child_count > 0) return Errno(EBUSY);
  RBDFS_TRY(cls_write(m_md, m_header_oid, "snapshot_remove", cls::enc_snap_id(id)));
  int r = m_data.selfmanaged_snap_remove(id);
  if (r < 0)
    spdlog::warn("image {}/{}: releasing snapshot id {} failed: {}", h->pool, h->name, id,
                 Errno::from_rados(r).message());
  RBDFS_TRY(refresh());
  notify_header_update();
  spdlog::info("image {}/{}: removed snapshot {} (id {})", h->pool, h->name, name, id);
  return {};
}

Status Image::snap_rename(const std::string& from, const std::string& to) {
  if (!valid_rbd_name(to)) return Errno(EINVAL);
  RBDFS_TRY(refresh());
  auto h = header();
  RBDFS_TRY(prepare_write(*h));
  const cls::SnapshotInfo* s = h->find_snap(from);
  if (!s) return Errno(ENOENT);
  if (from == to) return {};
  if (h->find_snap(to)) return Errno(EEXIST);
  RBDFS_TRY(cls_write(m_md, m_header_oid, "snapshot_rename", cls::enc_snapshot_rename(s->id, to)));
  RBDFS_TRY(refresh());
  notify_header_update();
  return {};
}

Result<std::vector<ObjectUsage>> stat_objects(librados::IoCtx& data, const std::string& prefix,
                                              uint64_t snap_id, uint64_t first, uint64_t last,
                                              uint64_t stride) {
  struct Stat {
    librados::AioCompletion* c = nullptr;
    uint64_t object_no = 0;
    uint64_t size = 0;
    time_t mtime = 0;
  };
  librados::IoCtx io;
  io.dup(data);
  io.snap_set_read(snap_id);
  std::vector<ObjectUsage> out;
  const uint64_t batch = 1024;  // stats in flight at once
  std::vector<Stat> stats;
  stats.reserve(batch);
  for (uint64_t o = first; o < last;) {
    stats.clear();  // sized up front: aio_stat keeps pointers
    for (; o < last && stats.size() < batch; o += stride) stats.push_back(Stat{nullptr, o, 0, 0});
    int err = 0;
    for (Stat& st : stats) {
      st.c = librados::Rados::aio_create_completion();
      int r = io.aio_stat(object_name(prefix, st.object_no), st.c, &st.size, &st.mtime);
      if (r < 0) {
        st.c->release();
        st.c = nullptr;
        err = -r;
        break;
      }
    }
    for (Stat& st : stats) {  // reap every submitted stat
      if (!st.c) continue;
      st.c->wait_for_complete();
      int r = st.c->get_return_value();
      st.c->release();
      if (r == 0)
        out.push_back({st.object_no, st.size});
      else if (r != -ENOENT && !err)
        err = -r;
    }
    if (err) return Errno(err);
  }
  return out;
}

Result<uint64_t> allocated_bytes(librados::IoCtx& data, const ImageHeader& h, uint64_t snap_id,
                                 uint64_t size) {
  uint64_t n = object_count(h.layout, size);
  uint64_t stride = (n + ALLOCATED_MAX_STATS - 1) / ALLOCATED_MAX_STATS;
  if (stride == 0) stride = 1;
  auto usage = stat_objects(data, h.object_prefix, snap_id, 0, n, stride);
  if (!usage.ok()) return usage.err();
  uint64_t bytes = 0;
  for (const auto& u : *usage) bytes += u.size;
  return bytes * stride;
}

Result<uint64_t> Image::seek(uint64_t snap_id, uint64_t off, bool data) {
  auto h = header();
  uint64_t size = h->size;
  if (snap_id != cls::NOSNAP) {
    const cls::SnapshotInfo* s = h->find_snap_id(snap_id);
    if (!s) return Errno(ENOENT);
    size = s->image_size;
  }
  if (off >= size) return Errno(ENXIO);
  const Layout& l = h->layout;
  const uint64_t unit = l.stripe_unit;
  const uint64_t nobj = object_count(l, size);
  // Offsets from `off` on visit objects set by set (an object set is
  // stripe_count objects), so whole sets are statted, in batches that
  // start small (data or a hole is usually near) and double.
  uint64_t base = (off / l.period()) * l.stripe_count;  // first object known
  uint64_t known = base;                                // objects [base, known) known
  std::vector<bool> present;
  uint64_t batch = 64;
  for (uint64_t pos = off; pos < size; pos = (pos / unit + 1) * unit) {
    uint64_t o = object_of(l, pos);
    if (o >= known) {
      uint64_t want = std::max<uint64_t>(batch, l.stripe_count);
      want = (want + l.stripe_count - 1) / l.stripe_count * l.stripe_count;
      uint64_t last = std::min(nobj, std::max(o + 1, known + want));
      auto usage = stat_objects(m_data, h->object_prefix, snap_id, known, last);
      if (!usage.ok()) return usage.err();
      present.resize(last - base, false);
      for (const auto& u : *usage) present[u.object_no - base] = true;
      known = last;
      batch = std::min<uint64_t>(batch * 2, 4096);
    }
    if (present[o - base] == data) return pos;
  }
  if (data) return Errno(ENXIO);
  return size;
}

}  // namespace rbdfs::core
