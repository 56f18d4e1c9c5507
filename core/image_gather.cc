// Read gathering on an image (the bookkeeping is core/read_gather.h): the
// pieces of one large read go to RADOS as one read, and each piece is
// answered with its window of the reply (no copy).
#include <spdlog/spdlog.h>

#include "core/image_impl.h"
#include "core/io_counters.h"

namespace rbdfs::core {

namespace {
// Long enough for the next piece of a split read to reach its FUSE worker
// on a busy two-core machine, short against a 1 MiB read's own time.
constexpr auto GATHER_HOLD = std::chrono::microseconds(300);
}  // namespace

void ImageImpl::aio_read_piece(uint64_t snap_id, uint64_t off, uint64_t len, uint64_t piece_size,
                               int gather_depth, ReadCallback cb) {
  auto h = header();
  if (piece_size == 0 || gather_depth < 0 || len == 0 || h->layout.stripe_count != 1) {
    read_impl(snap_id, off, len, false, std::move(cb));
    return;
  }
  // Only a full-size piece starts a group; a shorter one can only end one
  // or follow a full one sent alone. With neither, it goes straight out:
  // 4K random reads pay no lock, no count and no second wrap here. (A
  // group being held at this moment by another worker is missed: that
  // piece is then read alone, as when the pieces arrive the other way
  // round, and the group goes when its hold runs out.)
  const bool full = len == piece_size;
  if (!full && !m_gather_wants_short.load(std::memory_order_relaxed)) {
    read_impl(snap_id, off, len, false, std::move(cb));
    return;
  }
  bool deep = false;
  if (full) {
    // full-size pieces under way, this one included, until their answers
    deep = m_pieces_in_flight->fetch_add(1) + 1 > gather_depth;
    cb = [n = m_pieces_in_flight, cb = std::move(cb)](Result<ReadData> r) {
      n->fetch_sub(1);
      cb(std::move(r));
    };
  }
  Gather::Decision d;
  std::optional<Timer::Clock::time_point> arm;
  {
    std::lock_guard<std::mutex> l(m_gather_mu);
    if (!m_gather) m_gather.emplace(piece_size, GATHER_HOLD);
    d = m_gather->add(snap_id, h->layout.object_size, off, len, std::move(cb), Timer::Clock::now(),
                      deep);
    m_gather_wants_short.store(m_gather->wants_short(), std::memory_order_relaxed);
    if (d.expire_at && !m_gather_armed) {
      m_gather_armed = true;
      arm = d.expire_at;
    }
  }
  if (arm) gather_timer(*arm);
  for (auto& g : d.send) send_gathered(std::move(g));
}

void ImageImpl::send_gathered(Gather::Group g) {
  if (g.pieces.size() == 1) {
    read_impl(g.snap, g.off, g.len, false, std::move(g.pieces.front().payload));
    return;
  }
  io_counters().gathered_reads.fetch_add(1, std::memory_order_relaxed);
  io_counters().gathered_pieces.fetch_add(g.pieces.size(), std::memory_order_relaxed);
  // ReadCallback is copyable: the pieces are shared
  auto pieces = std::make_shared<std::vector<Gather::Piece>>(std::move(g.pieces));
  read_impl(g.snap, g.off, g.len, false, [pieces, base = g.off](Result<ReadData> r) {
    if (!r.ok()) {
      for (auto& p : *pieces) p.payload(r.err());
      return;
    }
    auto whole = std::make_shared<const ReadData>(std::move(*r));
    for (auto& p : *pieces) p.payload(ReadData::window(whole, p.off - base, p.len));
  });
}

void ImageImpl::gather_timer(Timer::Clock::time_point when) {
  // Held reads keep the image (their FUSE requests wait for them). The
  // send runs on the timer's thread and may wait there for an I/O slot,
  // as the write combiner's idle flush does.
  m_cluster->timer().schedule(when, [self = shared_from_this()] {
    std::vector<Gather::Group> out;
    std::optional<Timer::Clock::time_point> next;
    {
      std::lock_guard<std::mutex> l(self->m_gather_mu);
      std::tie(out, next) = self->m_gather->expire(Timer::Clock::now());
      self->m_gather_wants_short.store(self->m_gather->wants_short(), std::memory_order_relaxed);
      self->m_gather_armed = next.has_value();
    }
    if (next) self->gather_timer(*next);
    for (auto& g : out) self->send_gathered(std::move(g));
  });
}

}  // namespace rbdfs::core
