// Image size changes: resize (shrink trims objects first), grow_to (merged
// synchronous grows) and grow_async (the background grow of writes past
// the end).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <thread>

#include "core/cls_call.h"
#include "core/image_impl.h"

#include "core/rados.h"
#include "core/io_request.h"

namespace rbdfs::core {

using detail::cls_write;
using detail::to_bl;
using librados::bufferlist;

Status ImageImpl::grow_header(uint64_t size) {
  {
    std::lock_guard<std::mutex> l(m_header_mu);
    m_size_floor = std::max(m_size_floor, size);
  }
  // The object map covers the new objects before the size does (a
  // failure leaves the map flagged invalid, never wrong).
  if (m_map) (void)m_map->ensure_covers(object_count(header()->layout, size));
  RBDFS_TRY(cls_write(m_md, m_header_oid, "set_size", cls::enc_set_size(size)));
  {
    std::lock_guard<std::mutex> l(m_header_mu);
    m_recorded = size;
    if (m_header->size < size)
      set_cached_size(size);
    else
      ++m_header_gen;
  }
  notify_header_update();
  return {};
}

Status ImageImpl::resize(uint64_t new_size) {
  // The lock first: never wait for another size change while holding it
  // half-way (a grow holding the lock waits for m_resizing to clear).
  auto h = header();
  auto lock = prepare_write(&h);  // held to the end
  if (!lock.ok()) return lock.err();
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

Status ImageImpl::resize_now(uint64_t new_size) {
  auto h = header();
  if (new_size == h->size) return {};
  if (new_size > h->size) return grow_header(new_size);
  // Trim first (so a crash never leaves data past the recorded end that a
  // later grow would expose), then record the size.
  RBDFS_TRY(drain());
  RBDFS_TRY(copy_up_before_shrink(new_size));
  // the trims are writes: inside the submit gate, with the header (snap
  // context) read there, as every write
  enter_submit();
  h = header();
  const Layout& l = h->layout;
  uint64_t set_start = (new_size / l.period()) * l.stripe_count;
  uint64_t last = object_count(l, h->size);
  auto req = new_request();
  std::promise<Status> p;
  auto f = p.get_future();
  req->io_cb = [&p](Status s) { p.set_value(s); };
  req->write_seq = m_writes.begin();
  for (uint64_t objno = set_start; objno < last; ++objno) {
    uint64_t valid = object_valid_length(l, objno, new_size);
    if (valid == l.object_size) continue;
    librados::ObjectWriteOperation op;
    MapSteps steps;
    if (valid == 0) {
      op.remove();
      steps = map_steps(objno, object_map::PENDING, object_map::NONEXISTENT);
    } else {
      op.assert_exists();
      op.set_alloc_hint(l.object_size, l.object_size);  // always a change (see aio_discard)
      op.truncate(valid);
      steps = map_steps(objno, object_map::EXISTS);
    }
    steps.skip_if_absent = true;  // as a discard: an absent object is left alone
    submit_object_write(req, m_data, object_name(h->object_prefix, objno), &op, h->snapc, true,
                        steps);
  }
  leave_submit();
  req->put();
  RBDFS_TRY(f.get());
  RBDFS_TRY(cls_write(m_md, m_header_oid, "set_size", cls::enc_set_size(new_size)));
  if (m_map) (void)m_map->resize(object_count(l, new_size));  // all NONEXISTENT past the end now
  {
    std::lock_guard<std::mutex> lk(m_header_mu);
    m_size_floor = 0;  // smaller now, on purpose
    m_recorded = new_size;
    set_cached_size(new_size);
  }
  RBDFS_TRY(refresh());
  notify_header_update();
  return {};
}

Status ImageImpl::grow_to(uint64_t size) {
  // A header change like any other (the object map is resized with it).
  auto h = header();
  auto lock = prepare_write(&h);
  if (!lock.ok()) return lock.err();
  std::unique_lock<std::mutex> l(m_size_mu);
  auto wait = m_grow_waits.insert(size);
  Status s;
  while (header()->size < size || m_bg_sent != 0) {
    // a resize, another grow_to, or a background grow first (the cached
    // size may be ahead of the object's until that lands)
    if (m_resizing || m_bg_sent != 0) {
      m_size_cv.wait(l);
      continue;
    }
    if (header()->size >= size) break;
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

Status ImageImpl::grow_async(uint64_t size, uint64_t from) {
  {
    auto h = header();
    auto lock = prepare_write(&h);  // the gate; set_size itself needs no lock
    if (!lock.ok()) return lock.err();
    // With an object map, the map must cover an object before it is
    // written: grown now when the write reaches new objects (once per
    // object for a sequential writer), never shrunk here.
    if (m_map) {
      std::vector<uint64_t> written;
      if (from < size)
        for (const auto& ext : map_extent(h->layout, from, size - from))
          written.push_back(ext.object_no);
      m_map->grow_async(object_count(h->layout, size), written);
    }
  }
  std::unique_lock<std::mutex> l(m_size_mu);
  if (m_resizing) {  // a resize or a synchronous grow: queue behind it
    l.unlock();
    return grow_to(size);
  }
  {
    std::lock_guard<std::mutex> hl(m_header_mu);
    if (m_header->size >= size) return {};
    set_cached_size(size);
    m_size_floor = std::max(m_size_floor, size);
  }
  m_bg_target = std::max(m_bg_target, size);
  if (m_bg_sent != 0) {
    // Sent after the one in flight lands. Drains that start from now on
    // must wait for that one too: it is a write from now on.
    if (!m_bg_next_seq) m_bg_next_seq = m_writes.begin();
    return {};
  }
  uint64_t target = m_bg_target;
  m_bg_sent = target;
  uint64_t seq = m_writes.begin();
  l.unlock();
  send_bg_grow(target, seq);
  return {};
}

struct ImageImpl::BgGrow {
  std::shared_ptr<ImageImpl> image;
  librados::AioCompletion* completion = nullptr;
  uint64_t size = 0;
  uint64_t seq = 0;  // a write of its own: drains wait for it
};

void ImageImpl::send_bg_grow(uint64_t size, uint64_t seq) {
  auto* op = new BgGrow{shared_from_this(), nullptr, size, seq};
  op->completion = librados::Rados::aio_create_completion(op, &ImageImpl::bg_grow_done);
  librados::ObjectWriteOperation w;
  bufferlist in = to_bl(cls::enc_set_size(size));
  w.exec("rbd", "set_size", in);
  int r = m_md.aio_operate(m_header_oid, op->completion, &w);
  if (r < 0) {  // never completes: finish it here
    op->completion->release();
    auto img = std::move(op->image);
    delete op;
    ImageImpl* raw = img.get();
    raw->finish_bg_grow(std::move(img), seq, size, r);
  }
}

void ImageImpl::bg_grow_done(librados::completion_t, void* arg) {
  auto* op = static_cast<BgGrow*>(arg);
  int r = op->completion->get_return_value();
  op->completion->release();
  auto img = std::move(op->image);
  uint64_t seq = op->seq, size = op->size;
  delete op;
  ImageImpl* raw = img.get();
  raw->finish_bg_grow(std::move(img), seq, size, r);
}

void ImageImpl::finish_bg_grow(std::shared_ptr<ImageImpl> self, uint64_t seq, uint64_t size,
                               int r) {
  if (r < 0)
    spdlog::error(
        "image {}: recording size {} failed ({}): the next fsync of its writers reports it",
        header()->name, size, Errno::from_rados(r).message());
  {
    std::lock_guard<std::mutex> hl(m_header_mu);
    if (r == 0) {
      m_recorded = std::max(m_recorded, size);
      ++m_header_gen;  // a refresh that read the header object before this landed
    } else {
      // Back to what the object holds, so later writes past it grow again.
      m_size_floor = m_recorded;
      if (m_header->size > m_recorded) set_cached_size(m_recorded);
    }
  }
  uint64_t next = 0, next_seq = 0, dropped_seq = 0;
  {
    std::lock_guard<std::mutex> l(m_size_mu);
    if (r == 0 && m_bg_target > size) {
      next = m_bg_target;  // grown further meanwhile: its write was begun then
      next_seq = m_bg_next_seq ? m_bg_next_seq : m_writes.begin();
      m_bg_sent = next;
    } else {
      dropped_seq = m_bg_next_seq;
      m_bg_sent = 0;
      m_bg_target = 0;
      m_size_cv.notify_all();
    }
    m_bg_next_seq = 0;
  }
  if (next) send_bg_grow(next, next_seq);
  if (r == 0) notify_header_update();
  // As ImageRequest::put: drop our reference before running the drainers.
  auto ready = m_writes.end(seq, r < 0 ? -r : 0);
  if (dropped_seq) {
    auto more = m_writes.end(dropped_seq, 0);
    ready.insert(ready.end(), more.begin(), more.end());
  }
  self.reset();
  for (auto& f : ready) f(Status());
}

}  // namespace rbdfs::core
