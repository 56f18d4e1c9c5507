#include "core/image_impl.h"

#include "core/rados.h"

#include <spdlog/spdlog.h>

#include <pthread.h>

#include <algorithm>
#include <cstring>
#include <future>
#include <limits>
#include <string_view>
#include <thread>
#include <utility>

#include "core/cls_call.h"
#include "core/features.h"
#include "core/io_request.h"
#include "core/notify_message.h"

namespace rbdfs::core {

using ceph::bufferptr;
using detail::cls_write;
using librados::bufferlist;
namespace buffer = ceph::buffer;

// ---------------------------------------------------------------------------
// Open, header, gate

namespace {
// A thread of librados (completions, watch callbacks, messengers) or our
// timer, by name: an image destroyed there would wait for itself.
bool on_callback_thread() {
  char name[16] = {};
  if (pthread_getname_np(pthread_self(), name, sizeof name) != 0) return false;
  std::string_view n(name);
  for (std::string_view p :
       {"io_context_pool", "msgr-worker", "fn", "ms_", "finisher", "safe_timer", "rbdfs-timer"})
    if (n.substr(0, p.size()) == p) return true;
  return false;
}
}  // namespace

ImageImpl::ImageImpl(std::shared_ptr<Cluster> cluster, librados::IoCtx md, std::string what)
    : m_cluster(std::move(cluster)), m_md(std::move(md)), m_writes(std::move(what)) {}

ImageImpl::~ImageImpl() {
  // Give the lock up while the watch can still say so (RELEASED_LOCK);
  // then m_watch unwatches and waits for a notify in flight.
  if (m_lock) m_lock->release();
}

Result<std::shared_ptr<ImageImpl>> ImageImpl::open(std::shared_ptr<Cluster> cluster,
                                                   librados::IoCtx md, const std::string& pool,
                                                   const std::string& name,
                                                   const OpenOptions& options) {
  auto id = options.id.empty() ? detail::image_id(md, pool, name) : Result<std::string>(options.id);
  if (!id.ok()) return id.err();
  auto h = read_header(md, pool, name, *id);
  if (!h.ok()) return h.err();
  if (!h->unreadable_reason.empty()) {
    spdlog::warn("image {}/{}: cannot open: {}", pool, name, h->unreadable_reason);
    return Errno(EOPNOTSUPP);
  }
  // Never destroyed on a librados or timer thread, whoever drops the last
  // reference: its header watch and lock release wait for those threads.
  std::shared_ptr<ImageImpl> img(
      new ImageImpl(std::move(cluster), std::move(md), pool + "/" + name), [](ImageImpl* p) {
        if (on_callback_thread())
          std::thread([p] { delete p; }).detach();
        else
          delete p;
      });
  img->m_force_read_only = options.read_only;
  img->m_header_oid = header_object(*id);
  std::weak_ptr<ImageImpl> weak = img;
  HeaderWatch::Handlers handlers;
  // On the librados thread: no Image reference may be taken there (the
  // last one would destroy the image on it); raw `this` is safe, the
  // watch is gone before anything it calls.
  ImageImpl* raw = img.get();
  handlers.quick = [raw](uint64_t, const std::string& payload) {
    return raw->quick_notify(payload);
  };
  handlers.slow = [weak](uint64_t notifier, const std::string& payload) -> std::string {
    if (auto i = weak.lock()) return i->slow_notify(notifier, payload);
    return {};
  };
  handlers.rewatched = [raw](uint64_t handle) {
    if (raw->m_lock) raw->m_lock->handle_rewatch(handle);
  };
  img->m_watch = std::make_unique<HeaderWatch>(img->m_cluster, img->m_md, img->m_header_oid,
                                               pool + "/" + name, std::move(handlers));
  if (!options.read_only && h->read_only_reason.empty()) {
    if (h->features & FEATURE_OBJECT_MAP)
      img->m_map =
          std::make_unique<HeadObjectMap>(img->m_md, *id, img->m_header_oid, pool + "/" + name,
                                          (h->features & FEATURE_FAST_DIFF) != 0);
    if (h->features & FEATURE_EXCLUSIVE_LOCK)
      img->m_lock = std::make_unique<ExclusiveLock>(
          img->m_cluster, img->m_md, img->m_header_oid, pool + "/" + name, img->m_watch.get(),
          ExclusiveLock::Hooks{[raw](const std::string& c) { return raw->after_lock_acquired(c); },
                               [raw] { raw->before_lock_released(); },
                               [raw] { raw->send_held(); }});
  }
  if (h->data_pool_id >= 0) {
    auto io = open_ioctx(*img->m_cluster, h->data_pool_id);
    if (!io.ok()) {
      spdlog::error("image {}/{}: cannot open data pool {}: {}", pool, name, h->data_pool_id,
                    io.err().message());
      return io.err();
    }
    img->m_data = std::move(*io);
    img->m_data.set_namespace(img->m_md.get_namespace());  // data objects share it
  } else {
    img->m_data.dup(img->m_md);
  }
  if (options.read_only && h->read_only_reason.empty()) h->read_only_reason = "opened read-only";
  RBDFS_TRY(img->open_parent_of(*h));
  img->m_header = std::make_shared<const ImageHeader>(std::move(*h));
  if (options.watch) {
    Status w = img->m_watch->watch();
    if (!w.ok())
      spdlog::warn("image {}/{}: cannot watch header: {}", pool, name, w.err().message());
  }
  return img;
}

bool ImageImpl::blocklisted() const { return m_cluster->blocklisted(); }

std::shared_ptr<const ImageHeader> ImageImpl::header() const {
  std::lock_guard<std::mutex> l(m_header_mu);
  return m_header;
}

Status ImageImpl::refresh() {
  std::shared_ptr<const ImageHeader> cur;
  uint64_t gen;
  {
    std::lock_guard<std::mutex> l(m_header_mu);
    cur = m_header;
    gen = m_header_gen;
  }
  auto h = read_header(m_md, cur->pool, cur->name, cur->id);
  Status parent = h.ok() ? open_parent_of(*h) : Status(h.err());
  if (!parent.ok()) {
    // RADOS answers ESHUTDOWN only to a blocklisted client instance
    if (parent.error() == ESHUTDOWN) m_cluster->note_blocklisted();
    return parent;
  }
  if (m_force_read_only && h->read_only_reason.empty()) h->read_only_reason = "opened read-only";
  bool pending;
  {
    std::lock_guard<std::mutex> l(m_size_mu);
    pending = m_bg_sent != 0;
  }
  std::lock_guard<std::mutex> l(m_header_mu);
  if (m_header_gen != gen || pending) {
    // We grew the image while the header was read, or a background grow
    // has not landed: what was read may predate our size. Never shrink
    // below what we recorded or are recording.
    h->size = std::max(h->size, m_size_floor);
  } else {
    // Read after everything we recorded landed: the object is the truth
    // (another client may have shrunk the image).
    m_size_floor = 0;
  }
  m_recorded = h->size;
  ++m_header_gen;
  m_header = std::make_shared<const ImageHeader>(std::move(*h));
  return {};
}

void ImageImpl::set_cached_size(uint64_t size) {
  auto next = std::make_shared<ImageHeader>(*m_header);
  next->size = size;
  // set_size shrinks a clone's overlap with it (cls_rbd); growing leaves it
  next->parent_overlap = std::min(next->parent_overlap, size);
  m_header = std::move(next);
  ++m_header_gen;
}

Result<ExclusiveLock::Ref> ImageImpl::prepare_write(std::shared_ptr<const ImageHeader>* h) {
  if (!(*h)->read_only_reason.empty()) return Errno(EROFS);
  // Blocklisted: refused at once, never acknowledged early (the error
  // would land after the descriptor moved to the new instance, unseen).
  if (m_cluster->blocklisted()) return Errno(ESHUTDOWN);
  // Features enabled while the image was open (rbd feature enable): the
  // lock and the map were not set up at open, so writing would bypass them.
  if (((*h)->features & FEATURE_EXCLUSIVE_LOCK && !m_lock) ||
      ((*h)->features & FEATURE_OBJECT_MAP && !m_map)) {
    spdlog::warn(
        "image {}: exclusive-lock or object-map enabled while open: writes refused "
        "until it is opened again",
        (*h)->name);
    return Errno(EROFS);
  }
  if (!m_lock) return ExclusiveLock::Ref();
  auto ref = m_lock->acquire();
  if (!ref.ok()) return ref.err();
  *h = header();  // another owner may have changed it (refreshed on acquiring)
  if (!(*h)->read_only_reason.empty()) return Errno(EROFS);
  return ref;
}

bool ImageImpl::write_would_wait() const {
  if (m_lock && !m_lock->owned()) return true;  // releasing included
  std::lock_guard<std::mutex> l(m_gate_mu);
  return m_writes_blocked;
}

void ImageImpl::enter_submit() {
  std::unique_lock<std::mutex> l(m_gate_mu);
  m_gate_cv.wait(l, [this] { return !m_writes_blocked; });
  ++m_submitting;
}

void ImageImpl::leave_submit() {
  std::lock_guard<std::mutex> l(m_gate_mu);
  if (--m_submitting == 0) m_gate_cv.notify_all();
}

void ImageImpl::block_writes() {
  std::unique_lock<std::mutex> l(m_gate_mu);
  m_gate_cv.wait(l, [this] { return !m_writes_blocked; });
  m_writes_blocked = true;
  m_gate_cv.wait(l, [this] { return m_submitting == 0; });
}

void ImageImpl::unblock_writes() {
  std::lock_guard<std::mutex> l(m_gate_mu);
  m_writes_blocked = false;
  m_gate_cv.notify_all();
}

MapSteps ImageImpl::map_steps(uint64_t objno, std::optional<object_map::State> pre,
                              std::optional<object_map::State> post) {
  if (!m_map) return {};
  return MapSteps{m_map.get(), objno, pre, post};
}

Status ImageImpl::after_lock_acquired(const std::string& cookie) {
  // The previous owner may have resized or snapshotted the image, and
  // written (a dead one sent no RELEASED_LOCK): caches above must go.
  RBDFS_TRY(refresh());
  foreign_write();
  if (!m_map) return {};
  auto h = header();
  return m_map->open(object_count(h->layout, h->size), (h->flags & FLAG_OBJECT_MAP_INVALID) != 0,
                     cookie);
}

void ImageImpl::before_lock_released() {
  if (m_map) m_map->close();
  foreign_write();  // the next owner writes
}

void ImageImpl::set_foreign_write_hook(std::function<void()> hook) {
  std::lock_guard<std::mutex> l(m_hook_mu);
  m_foreign_write_hook = std::move(hook);
}

void ImageImpl::foreign_write() {
  std::function<void()> hook;
  {
    std::lock_guard<std::mutex> l(m_hook_mu);
    hook = m_foreign_write_hook;
  }
  if (hook) hook();
}

std::optional<std::string> ImageImpl::quick_notify(const std::string& payload) {
  auto msg = notify::dec_message(payload);
  if (!msg.ok()) return std::string();  // acked, ignored
  switch (msg->op) {
    case notify::HEADER_UPDATE:
    case notify::QUIESCE:
      return std::nullopt;  // slow_notify: waits for our writes
    case notify::ACQUIRED_LOCK:
    case notify::RELEASED_LOCK:
      if (m_lock) m_lock->handle_peer_lock_message(msg->client);
      foreign_write();
      return std::string();
    case notify::REQUEST_LOCK:
      return m_lock ? m_lock->handle_request_lock(msg->client) : std::string();
    case notify::UNQUIESCE:
    case notify::ASYNC_PROGRESS:
    case notify::ASYNC_COMPLETE:
      return std::string();
    default:
      // Maintenance ops (resize, snapshots, ...) forwarded to the lock
      // owner: rbdfs runs none for others (as krbd), so the requester
      // asks for the lock and does it itself.
      if (m_lock && m_lock->owned()) return notify::enc_response(-EOPNOTSUPP);
      return std::string();
  }
}

std::string ImageImpl::slow_notify(uint64_t notifier, const std::string& payload) {
  auto msg = notify::dec_message(payload);
  if (msg.ok() && msg->op == notify::QUIESCE) {
    // a snapshot is about to be taken by the owner: everything we
    // acknowledged must be in RADOS first
    Status s = drain();
    return notify::enc_response(s.ok() ? 0 : -s.error());
  }
  handle_header_change(notifier);
  return {};
}

void ImageImpl::handle_header_change(uint64_t notifier_id) {
  // A snapshot may be about to be taken: let our writes land first (their
  // errors stay for the writers), then pick up the new snapshot context
  // before the notify is acknowledged.
  spdlog::debug("image {}: header changed by client {}", header()->name, notifier_id);
  (void)drain();
  Status s = refresh();
  if (!s.ok() && s.error() != ENOENT)
    spdlog::warn("image {}: refresh after header notify failed: {}", header()->name,
                 s.err().message());
}

void ImageImpl::notify_header_update() { m_watch->post_update(); }

// ---------------------------------------------------------------------------
// I/O: image requests fanned out to object requests (core/io_request.h)

std::shared_ptr<ImageRequest> ImageImpl::new_request() {
  auto req = std::make_shared<ImageRequest>();
  req->owner = shared_from_this();
  req->cluster = m_cluster.get();
  req->writes = &m_writes;
  return req;
}

uint64_t ImageImpl::error_mark() const { return m_writes.error_mark(); }

Status ImageImpl::check_errors(std::atomic<uint64_t>* cursor, bool advance) const {
  return m_writes.check_errors(cursor, advance);
}

void ImageImpl::aio_read(uint64_t snap_id, uint64_t off, uint64_t len, ReadCallback cb) {
  read_impl(snap_id, off, len, false, std::move(cb));
}

void ImageImpl::read_for_child(uint64_t snap_id, uint64_t off, uint64_t len, bool slotless,
                               ReadCallback cb) {
  read_impl(snap_id, off, len, slotless, std::move(cb));
}

void ImageImpl::read_impl(uint64_t snap_id, uint64_t off, uint64_t len, bool slotless,
                          ReadCallback cb) {
  auto h = header();
  auto at = h->size_at(snap_id);
  if (!at.ok()) {
    cb(at.err());
    return;
  }
  uint64_t size = *at;
  if (off >= size || len == 0) {
    cb(ReadData());
    return;
  }
  len = std::min(len, size - off);
  if (snap_id == cls::NOSNAP) send_held(off, len);  // acknowledged data first
  const uint64_t overlap = h->overlap_at(snap_id);
  std::shared_ptr<ImageImpl> parent = overlap ? parent_of(*h) : nullptr;
  if (overlap && !parent) {  // never zeros for the parent's data
    spdlog::error("image {}: its parent is not open: cannot read", h->name);
    cb(Errno(EIO));
    return;
  }
  auto req = new_request();
  req->read_cb = std::move(cb);
  req->slotless = slotless;
  if (overlap) {
    req->parent = std::move(parent);
    req->parent_snap = h->parent.snap_id;
    req->overlap = overlap;
    req->layout = h->layout;
  }
  // Every part exists before the first submit: completions write into
  // them while later parts are still being submitted.
  std::vector<ObjectExtent> exts = map_extent(h->layout, off, len);
  req->reserve_parts(exts.size(), len);
  for (auto& ext : exts) req->add_part(std::move(ext));
  // The lock owner's object map is the truth for the head: reads come
  // after the writes queued for their object, and an absent object reads
  // as zeros without asking RADOS.
  HeadObjectMap* map = snap_id == cls::NOSNAP ? m_map.get() : nullptr;
  for (size_t i = 0; i < req->parts(); ++i)
    submit_object_read(req, m_data, object_name(h->object_prefix, req->part_extent(i).object_no), i,
                       snap_id, map);
  req->put();
}

void ImageImpl::aio_write(uint64_t off, const char* data, uint64_t len, IoCallback cb,
                          bool stable) {
  if (len > std::numeric_limits<unsigned>::max()) {
    cb(Errno(EINVAL));
    return;
  }
  write_shared(off, buffer::copy(data, static_cast<unsigned>(len)), std::move(cb), stable);
}

void ImageImpl::aio_write(uint64_t off, WriteBuffer data, IoCallback cb, bool stable) {
  if (data.size() > std::numeric_limits<unsigned>::max()) {
    cb(Errno(EINVAL));
    return;
  }
  auto len = static_cast<unsigned>(data.size());
  write_shared(off, bufferptr(buffer::claim_malloc(len, data.release())), std::move(cb), stable);
}

void ImageImpl::write_shared(uint64_t off, bufferptr data, IoCallback cb, bool stable) {
  auto h = header();
  auto lock = prepare_write(&h);
  if (!lock.ok()) {
    cb(lock.err());
    return;
  }
  const uint64_t len = data.length();
  // The header (its snap context above all) is read inside the submit
  // gate: a snapshot taken meanwhile is either wholly before or after.
  enter_submit();
  h = header();
  if (off > h->size || len > h->size - off || len == 0) {
    leave_submit();
    cb(len == 0 ? Status() : Status(Errno(EFBIG)));
    return;
  }
  // Write-around: acknowledged once sent if the budget allows; RADOS'
  // verdict then goes to the next flush. Not where a clone may copy up:
  // until the copy-up lands, the object is absent and a read would find
  // the parent's data instead of this write.
  const uint64_t overlap = h->overlap_at(cls::NOSNAP);
  const uint64_t period = h->layout.period();
  const bool may_copyup = overlap && off < (overlap + period - 1) / period * period;
  const bool early = !stable && !may_copyup && m_cluster->reserve_writearound(len);
  if (early && h->layout.stripe_count == 1) {
    write_combined(*h, off, std::move(data), std::move(cb), std::move(*lock));
  } else {
    send_held(off, len);  // an acknowledged write under this one goes first
    bufferlist bl;
    bl.append(std::move(data));
    send_write(*h, h->snapc, off, std::move(bl), early, std::move(cb), std::move(*lock));
  }
  leave_submit();
}

void ImageImpl::send_write(const ImageHeader& h, const cls::SnapContext& snapc, uint64_t off,
                           bufferlist bl, bool early, IoCallback cb, ExclusiveLock::Ref lock) {
  const uint64_t len = bl.length();
  auto req = new_request();
  if (early) {
    req->early_acked = len;
    req->early_ack = std::move(cb);
  } else {
    req->io_cb = std::move(cb);
  }
  req->lock_ref = std::move(lock);
  req->write_seq = m_writes.begin();
  const bool clone = h.overlap_at(cls::NOSNAP) != 0;
  if (clone && !link_parent(*req, h)) {  // nothing written: it could hide the parent's data
    req->fail(EIO);
    req->sent_one();
    req->put();
    return;
  }
  for (const auto& ext : map_extent(h.layout, off, len)) {
    librados::ObjectWriteOperation op;
    bufferlist obl;
    for (const auto& b : ext.buffer) {  // shares the data, copies nothing
      bufferlist piece;
      piece.substr_of(bl, static_cast<unsigned>(b.buffer_offset), static_cast<unsigned>(b.length));
      obl.claim_append(piece);
    }
    const bool whole = ext.offset == 0 && ext.length == h.layout.object_size;
    std::unique_ptr<Copyup> cu = clone && req->parent ? copyup_for(h, ext.object_no) : nullptr;
    // a whole object written with no snapshot to keep the parent's data for
    // needs none of it
    if (cu && whole && snapc.snaps.empty()) cu.reset();
    if (cu) {
      cu->ops = [obl, at = ext.offset, whole](librados::ObjectWriteOperation& o) {
        if (whole)
          o.write_full(obl);
        else
          o.write(at, obl);
      };
      op.assert_exists();
      cu->ops(op);
    } else if (whole) {
      op.write_full(obl);
    } else {
      op.write(ext.offset, obl);
    }
    submit_object_write(req, m_data, object_name(h.object_prefix, ext.object_no), &op, snapc, false,
                        map_steps(ext.object_no, object_map::EXISTS), std::move(cu));
  }
  req->sent_one();
  req->put();
}

void ImageImpl::aio_discard(uint64_t off, uint64_t len, IoCallback cb) {
  auto h = header();
  auto lock = prepare_write(&h);
  if (!lock.ok()) {
    cb(lock.err());
    return;
  }
  enter_submit();  // the header is read inside the gate (see write_shared)
  h = header();
  if (off >= h->size || len == 0) {
    leave_submit();
    cb({});
    return;
  }
  len = std::min(len, h->size - off);
  send_held(off, len);  // acknowledged data under the discard goes first
  auto req = new_request();
  req->io_cb = std::move(cb);
  req->lock_ref = std::move(*lock);
  req->write_seq = m_writes.begin();
  const uint64_t os = h->layout.object_size;
  const uint64_t overlap = h->overlap_at(cls::NOSNAP);
  if (overlap && !link_parent(*req, *h)) {  // nothing written: it could show the parent's data
    req->fail(EIO);
    leave_submit();
    req->put();
    return;
  }
  for (const auto& ext : map_extent(h->layout, off, len)) {
    librados::ObjectWriteOperation op;
    uint64_t valid = object_valid_length(h->layout, ext.object_no, h->size);
    uint64_t end = ext.offset + ext.length;
    const bool whole = ext.offset == 0 && (ext.length == os || end >= valid);
    MapSteps steps;
    // A clone's object with parent data under the range is never removed
    // (that would show the parent's data again): it is zeroed or truncated,
    // copied up first where it is absent, as librbd does (reference §4.5).
    if (overlap && req->parent &&
        ext.offset < object_valid_length(h->layout, ext.object_no, overlap)) {
      std::unique_ptr<Copyup> cu;
      if (whole && h->snapc.snaps.empty()) {
        op.create(false);  // an empty object hides the parent
        op.truncate(0);
      } else {
        cu = copyup_for(*h, ext.object_no);
        cu->create = true;
        cu->ops = [at = ext.offset, n = ext.length, tail = end >= valid,
                   os](librados::ObjectWriteOperation& o) {
          o.set_alloc_hint(os, os);  // see below
          if (tail)
            o.truncate(at);
          else
            o.zero(at, n);
        };
        op.assert_exists();
        cu->ops(op);
      }
      submit_object_write(req, m_data, object_name(h->object_prefix, ext.object_no), &op, h->snapc,
                          false, map_steps(ext.object_no, object_map::EXISTS), std::move(cu));
      continue;
    }
    if (whole) {
      op.remove();
      steps = map_steps(ext.object_no, object_map::PENDING, object_map::NONEXISTENT);
    } else {
      op.assert_exists();
      // A zero or truncate past the object's end changes nothing, and the
      // OSD then takes no clone for a snapshot: fast-diff would find the
      // object EXISTS where `rbd object-map check` wants EXISTS_CLEAN. The
      // allocation hint (librbd's own values) always makes it a change.
      op.set_alloc_hint(os, os);
      if (end >= valid)
        op.truncate(ext.offset);
      else
        op.zero(ext.offset, ext.length);
      steps = map_steps(ext.object_no, object_map::EXISTS);
    }
    // an object the map says is absent (when its turn comes, after the
    // writes before) already reads as zeros: left alone
    steps.skip_if_absent = true;
    submit_object_write(req, m_data, object_name(h->object_prefix, ext.object_no), &op, h->snapc,
                        true, steps);
  }
  leave_submit();
  req->put();
}

void ImageImpl::aio_drain(IoCallback cb) {
  send_held();
  m_writes.drain(std::move(cb));
}

void ImageImpl::aio_flush(IoCallback cb) {
  // The caller holds the image until cb runs.
  aio_drain([this, cb = std::move(cb)](Status s) {
    cb(s.ok() ? m_writes.check_errors(&m_own_cursor, true) : s);
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

Result<uint64_t> ImageImpl::seek(uint64_t snap_id, uint64_t off, bool data) {
  auto h = header();
  auto size = h->size_at(snap_id);
  if (!size.ok()) return size.err();
  // The head is looked at in RADOS (the object map or the objects): what
  // we acknowledged must be there first - a held extent, and also a write
  // acknowledged while queued behind its map update, which has not landed.
  if (snap_id == cls::NOSNAP) (void)drain();
  return seek_objects(m_md, m_data, *h, snap_id, *size, off, data);
}

}  // namespace rbdfs::core
