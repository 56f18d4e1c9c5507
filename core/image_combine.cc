// Sequential write combining (core/write_combiner.h for the plan): the
// part of an early-acknowledged write that ends inside an object is held,
// joined by the writes that continue it, and sent as one write per object.
#include "core/image_impl.h"

#include "core/rados.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "core/write_combiner.h"

namespace rbdfs::core {

using ceph::bufferptr;
using librados::bufferlist;

namespace {
constexpr auto HELD_IDLE = std::chrono::milliseconds(5);
}

void ImageImpl::write_combined(const ImageHeader& h, uint64_t off, bufferptr data, IoCallback cb,
                               ExclusiveLock::Ref lock) {
  const uint64_t len = data.length();
  std::optional<Held> first;  // sent before the rest of this write
  CombinePlan p;
  bool arm = false;
  // Giving the lock up: nothing is kept back (the release waits for it).
  const bool releasing = m_lock && m_lock->releasing();
  {
    std::unique_lock<std::mutex> l(m_held_mu);
    m_held_cv.wait(l, [this] { return !m_held_sending; });
    // Acknowledged before a snapshot that this write comes after: it
    // goes as it was, with its own snap context (the snapshot keeps it).
    if (m_held && m_held->snapc.seq != h.snapc.seq) first = std::exchange(m_held, std::nullopt);
    std::optional<ByteRange> held;
    if (m_held) held = ByteRange{m_held->off, m_held->bl.length()};
    p = plan_combine(held, off, len, h.layout.object_size, m_last_end);
    m_last_end = off + len;
    if (releasing && p.hold.len) {  // all of it goes now
      p.direct = {p.direct.len ? p.direct.off : p.hold.off, p.direct.len + p.hold.len};
      p.hold = {};
    }
    if (p.send_held_first) first = std::exchange(m_held, std::nullopt);
    if (p.join) {
      m_held->bl.append(data, 0, static_cast<unsigned>(p.join));
      if (p.held_full || releasing) first = std::exchange(m_held, std::nullopt);
    }
    if (p.hold.len) {
      Held n{p.hold.off, {}, h.snapc, lock, shared_from_this()};
      n.bl.append(data, static_cast<unsigned>(p.hold.off - off), static_cast<unsigned>(p.hold.len));
      m_held = std::move(n);
      arm = !m_held_timer_armed;
      m_held_timer_armed = true;
    }
    m_held_touched = Timer::Clock::now();
    m_held_sending = first.has_value();
    m_held_active = m_held.has_value() || m_held_sending;
  }
  // the reservation of `len` bytes now backs the direct part and the new
  // held extent; joined bytes ride with the held extent's
  m_cluster->split_writearound((p.direct.len ? 1u : 0u) + (p.hold.len ? 1u : 0u));
  if (arm) held_timer(Timer::Clock::now() + HELD_IDLE);
  if (!p.direct.len) {
    // All of it joined or held: acknowledged now (write-around), before
    // the held extent it completed is sent - whatever comes next waits for
    // that send (m_held_sending), so the writer's next write overlaps it.
    cb({});
  }
  if (first) {
    submit_held(std::move(*first));
    held_sent();
  }
  if (p.direct.len) {
    bufferlist bl;
    bl.append(data, static_cast<unsigned>(p.direct.off - off), static_cast<unsigned>(p.direct.len));
    send_write(h, h.snapc, p.direct.off, std::move(bl), true, std::move(cb), std::move(lock));
  }
}

void ImageImpl::send_held(uint64_t off, uint64_t len) {
  if (!m_held_active.load()) return;
  const uint64_t end = len > UINT64_MAX - off ? UINT64_MAX : off + len;
  std::optional<Held> held;
  {
    std::unique_lock<std::mutex> l(m_held_mu);
    m_held_cv.wait(l, [this] { return !m_held_sending; });
    if (!m_held || m_held->off >= end || m_held->off + m_held->bl.length() <= off) return;
    held = std::exchange(m_held, std::nullopt);
    m_held_sending = true;
  }
  submit_held(std::move(*held));
  held_sent();
}

void ImageImpl::held_sent() {
  std::lock_guard<std::mutex> l(m_held_mu);
  m_held_sending = false;
  m_held_active = m_held.has_value();
  m_held_cv.notify_all();
}

void ImageImpl::submit_held(Held held) {
  // With the snap context it was acknowledged with; the size of now.
  auto h = header();
  uint64_t len = held.bl.length();
  if (held.off >= h->size) {  // shrunk away by another client
    m_cluster->release_writearound(len);
    return;
  }
  if (len > h->size - held.off) {
    uint64_t keep = h->size - held.off;
    bufferlist cut;
    cut.substr_of(held.bl, 0, static_cast<unsigned>(keep));
    held.bl.swap(cut);
    m_cluster->release_writearound(len - keep, 0);  // the op stays with the rest
  }
  // the budget of the whole extent goes with the request
  send_write(*h, held.snapc, held.off, std::move(held.bl), true, {}, std::move(held.lock));
}

void ImageImpl::held_timer(Timer::Clock::time_point when) {
  std::weak_ptr<ImageImpl> weak = weak_from_this();
  m_cluster->timer().schedule(when, [weak] {
    auto self = weak.lock();  // held data keeps the image
    if (!self) return;
    const auto now = Timer::Clock::now();
    Timer::Clock::time_point due;
    {
      std::lock_guard<std::mutex> l(self->m_held_mu);
      if (!self->m_held) {
        self->m_held_timer_armed = false;
        return;
      }
      due = self->m_held_touched + HELD_IDLE;
      if (now >= due) self->m_held_timer_armed = false;  // a later hold arms it again
    }
    if (now < due)
      self->held_timer(due);  // still being written: look again then
    else
      self->send_held();
  });
}

}  // namespace rbdfs::core
