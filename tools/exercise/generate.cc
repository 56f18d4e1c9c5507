// The exerciser's operations: which one comes next and where it lands,
// drawn from the seeded generator (offsets aimed at stripe-unit, object
// and object-set edges and at the current end).
#include "tools/exercise/exerciser.h"

namespace rbdfs::exercise {

uint64_t Exerciser::jitter(uint64_t base) {
  uint64_t d;
  switch (below(8)) {
    case 0:
    case 1:
    case 2:
      return base;
    case 3:
    case 4:
      d = between(1, 16);
      break;
    case 5:
    case 6:
      d = between(1, 4096);
      break;
    default:
      d = between(1, std::max<uint64_t>(m_layout.stripe_unit / 2, 1));
      break;
  }
  if (below(2)) return base + d;
  return base >= d ? base - d : 0;
}

// A point in [0, limit], often on or near a stripe-unit, object or
// object-set edge, or the current end; mostly inside the current size (plus
// an object set), so that the image does not just grow to --max-size.
uint64_t Exerciser::pick_point(uint64_t limit) {
  const uint64_t su = m_layout.stripe_unit, os = m_layout.object_size, per = m_layout.period();
  const uint64_t all = limit;
  if (chance(75)) limit = std::min(limit, std::max(m_model->size(), per));
  uint64_t p;
  switch (below(10)) {
    case 0:
    case 1:
      p = jitter(below(limit / su + 1) * su);
      break;
    case 2:
      p = jitter(below(limit / os + 1) * os);
      break;
    case 3:
      p = jitter(below(limit / per + 1) * per);
      break;
    case 4:
    case 5:
      p = jitter(m_model->size());
      break;
    case 6:
      p = jitter(0);
      break;
    default:
      p = below(limit + 1);
      break;
  }
  return std::min(p, all);
}

// A length in [1, min(max_len, room)].
uint64_t Exerciser::pick_len(uint64_t off, uint64_t room) {
  const uint64_t su = m_layout.stripe_unit;
  uint64_t len;
  switch (below(10)) {
    case 0:
    case 1:
    case 2:
      len = between(1, 512);
      break;
    case 3:
    case 4:
      len = between(1, 64 * KiB);
      break;
    case 5: {  // to (about) the next stripe-unit edge, or a few past it
      uint64_t edge = jitter((off / su + 1 + below(3)) * su);
      len = edge > off ? edge - off : 1;
      break;
    }
    case 6: {
      const uint64_t sizes[] = {su, m_layout.object_size, m_layout.period()};
      len = jitter(sizes[below(3)]);
      break;
    }
    default:
      len = between(1, m_o.max_len);
      break;
  }
  return std::clamp<uint64_t>(len, 1, std::max<uint64_t>(1, std::min(m_o.max_len, room)));
}

Op Exerciser::generate(uint64_t n) {
  struct Weight {
    Kind kind;
    uint64_t w;
  };
  // A clone's data below its overlap is what copy-up is about, and every
  // shrink cuts the overlap for good: clones are truncated rarely.
  const uint64_t truncates = m_o.from_image ? 1 : 6;
  std::vector<Weight> ws = {{Kind::WRITE, 28}, {Kind::READ, 14}, {Kind::TRUNCATE, truncates},
                            {Kind::PUNCH, 6},  {Kind::ZERO, 6},  {Kind::ALLOCATE, 2},
                            {Kind::SEEK, 2},   {Kind::FSYNC, 4}, {Kind::REOPEN, 2}};
  if (m_o.snaps) {
    ws.push_back({Kind::SNAP_CREATE, 1});  // about a second each (a new osdmap)
    if (!m_snaps.empty()) {
      ws.push_back({Kind::SNAP_READ, 4});
      ws.push_back({Kind::SNAP_REMOVE, 1});
    }
  }
  if (m_o.direct && m_max_size >= DIO_ALIGN) {
    ws.push_back({Kind::DIRECT_WRITE, 10});
    ws.push_back({Kind::DIRECT_READ, 5});
  }
  ws.push_back({Kind::BURST, 3});
  ws.push_back({Kind::COPY, 4});
  uint64_t total = 0;
  for (const auto& w : ws) total += w.w;
  uint64_t r = below(total);
  Op op;
  op.n = n;
  op.size_before = m_model->size();
  for (const auto& w : ws) {
    if (r < w.w) {
      op.kind = w.kind;
      break;
    }
    r -= w.w;
  }
  const uint64_t maxs = m_max_size;
  switch (op.kind) {
    case Kind::WRITE:
      // often where the last write ended: sequential runs (cp, logs,
      // qemu-img) are combined per object by the core
      op.off = m_seq_end < maxs && chance(35) ? m_seq_end : pick_point(maxs - 1);
      op.len = pick_len(op.off, maxs - op.off);
      m_seq_end = op.off + op.len;
      break;
    case Kind::READ:
    case Kind::PUNCH:
    case Kind::ZERO:
    case Kind::ALLOCATE:
    case Kind::SEEK:
      op.off = pick_point(maxs - 1);
      op.len = pick_len(op.off, maxs - op.off);
      op.keep_size = chance(50);
      break;
    case Kind::TRUNCATE:
      op.off = pick_point(maxs);
      break;
    case Kind::REOPEN:
      op.trunc = chance(m_o.from_image ? 2 : 10);
      break;
    case Kind::DIRECT_WRITE:
    case Kind::DIRECT_READ: {
      const uint64_t dmax = maxs / DIO_ALIGN * DIO_ALIGN;
      const bool seq = op.kind == Kind::DIRECT_WRITE && m_seq_end % DIO_ALIGN == 0 &&
                       m_seq_end + DIO_ALIGN <= dmax && chance(35);
      op.off = seq ? m_seq_end : pick_point(dmax - DIO_ALIGN) / DIO_ALIGN * DIO_ALIGN;
      uint64_t dlen = std::max<uint64_t>(m_o.max_len / DIO_ALIGN * DIO_ALIGN, DIO_ALIGN);
      uint64_t len = pick_len(op.off, dmax - op.off);
      len = (len + DIO_ALIGN - 1) / DIO_ALIGN * DIO_ALIGN;
      op.len = std::min({len, dlen, dmax - op.off});
      if (op.kind == Kind::DIRECT_WRITE) m_seq_end = op.off + op.len;
      break;
    }
    case Kind::SNAP_READ:
      op.snap = below(m_snaps.size());
      op.whole = chance(25);
      op.off = pick_point(maxs - 1);
      op.len = pick_len(op.off, maxs - op.off);
      break;
    case Kind::SNAP_REMOVE:
      op.snap = below(m_snaps.size());
      break;
    case Kind::COPY: {
      op.from_snap = !m_snaps.empty() && chance(30);
      if (op.from_snap) op.snap = below(m_snaps.size());
      const uint64_t os = m_layout.object_size, objs = maxs / os;
      if (objs >= 2 && chance(50)) {
        // whole objects at the same offset in the object: the OSDs copy them
        const uint64_t k = between(1, std::min<uint64_t>(4, objs / 2));
        op.len = k * os;
        op.src_off = below(objs - k + 1) * os;
        op.off = below(objs - k + 1) * os;
        if (chance(25)) op.len = std::min(jitter(op.len), maxs - op.off);  // and ragged edges
      } else {
        op.src_off = pick_point(maxs - 1);
        op.off = pick_point(maxs - 1);
        op.len = pick_len(op.off, maxs - op.off);
      }
      // within the head the ranges may not overlap (the kernel refuses it)
      if (!op.from_snap && op.off < op.src_off + op.len && op.src_off < op.off + op.len) {
        if (op.src_off + 2 * op.len <= maxs)
          op.off = op.src_off + op.len;
        else if (op.src_off >= op.len)
          op.off = op.src_off - op.len;
        else
          op.len = 0;
      }
      break;
    }
    case Kind::BURST: {
      op.direct = m_o.direct && maxs >= 2 * DIO_ALIGN && chance(50);
      const uint64_t k = between(2, 6);
      const uint64_t align = op.direct ? DIO_ALIGN : 1;
      const uint64_t top = maxs / align * align;  // ends stay at or below
      const uint64_t cap = std::max(m_o.max_len / k, align);
      std::vector<std::pair<uint64_t, uint64_t>> cand;
      for (uint64_t i = 0; i < k; ++i) {
        uint64_t off = pick_point(top - align) / align * align;
        uint64_t len = std::min(pick_len(off, top - off), cap);
        len = std::min((len + align - 1) / align * align, top - off);
        cand.emplace_back(off, len);
      }
      std::sort(cand.begin(), cand.end());
      for (const auto& c : cand)  // keep them disjoint
        if (op.parts.empty() || c.first >= op.parts.back().first + op.parts.back().second)
          op.parts.push_back(c);
      break;
    }
    case Kind::SNAP_CREATE: {
      // Names come back: a snapshot may take the name of one removed
      // earlier, even of the one this op removes first.
      auto live = [&](const std::string& name) {
        for (size_t i = m_snaps.size() >= MAX_SNAPS ? 1 : 0; i < m_snaps.size(); ++i)
          if (m_snaps[i].name == name) return true;
        return false;
      };
      uint64_t k = below(SNAP_NAMES);
      while (live("ex" + std::to_string(k))) k = (k + 1) % SNAP_NAMES;
      op.snap_name = "ex" + std::to_string(k);
      break;
    }
    default:
      break;
  }
  return op;
}

// SEEK_DATA/SEEK_HOLE against the model: ENXIO at or past the end; a
// result in [off, size]; what SEEK_DATA skips (up to the end for ENXIO)
// holds only zeros. Data may hold zeros too, so that is all.

}  // namespace rbdfs::exercise
