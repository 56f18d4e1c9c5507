// Image size changes: resize (shrink trims objects first), grow_to (merged
// synchronous grows) and grow_async (the background grow of writes past
// the end).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <thread>

#include "core/cls_call.h"
#include "core/image.h"
#include "core/io_request.h"

namespace rbdfs::core {

using detail::cls_write;
using detail::to_bl;
using librados::bufferlist;

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
  auto req = new_request();
  std::promise<Status> p;
  auto f = p.get_future();
  req->io_cb = [&p](Status s) { p.set_value(s); };
  req->write_seq = m_writes.begin();
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
    submit_object_write(req, m_data, object_name(h->object_prefix, objno), &op, h->snapc, true);
  }
  req->put();
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
  auto* op = new BgGrow{shared_from_this(), nullptr, size, m_writes.begin()};
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
  auto ready = m_writes.end(seq, r < 0 ? -r : 0);
  self.reset();
  for (auto& f : ready) f(Status());
}

}  // namespace rbdfs::core
