#include "core/object_usage.h"

#include <algorithm>

#include "core/cls_call.h"
#include "core/features.h"
#include "core/names.h"
#include "core/object_map.h"

namespace rbdfs::core {

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

std::optional<object_map::Map> trusted_object_map(librados::IoCtx& md, const ImageHeader& h,
                                                  uint64_t snap_id) {
  if (!(h.features & FEATURE_OBJECT_MAP)) return std::nullopt;
  // The flags are asked for while the map loads: one round trip, not two
  // (lseek's SEEK_DATA and SEEK_HOLE each pay it; cp of a sparse image
  // asks twice per data extent).
  librados::bufferlist flags_in = detail::to_bl(cls::enc_snap_id(snap_id)), flags_out;
  librados::AioCompletion* asking = librados::Rados::aio_create_completion();
  int sent = md.aio_exec(header_object(h.id), asking, "rbd", "get_flags", flags_in, &flags_out);
  std::optional<uint64_t> snap;
  if (snap_id != cls::NOSNAP) snap = snap_id;
  auto map = load_object_map(md, h.id, snap);
  if (sent == 0) asking->wait_for_complete();
  int got = sent == 0 ? asking->get_return_value() : sent;
  asking->release();
  if (got < 0 || !map.ok()) return std::nullopt;
  auto flags = cls::dec_u64(detail::view(flags_out));
  if (!flags.ok() || (*flags & FLAG_OBJECT_MAP_INVALID)) return std::nullopt;
  return std::move(*map);
}

Result<uint64_t> allocated_bytes(librados::IoCtx& md, librados::IoCtx& data, const ImageHeader& h,
                                 uint64_t snap_id, uint64_t size) {
  uint64_t n = object_count(h.layout, size);
  if (auto map = trusted_object_map(md, h, snap_id)) {
    uint64_t bytes = 0;
    for (uint64_t o = 0; o < n && o < map->size(); ++o)
      if (map->get(o) != object_map::NONEXISTENT) bytes += object_valid_length(h.layout, o, size);
    return bytes;
  }
  uint64_t stride = (n + ALLOCATED_MAX_STATS - 1) / ALLOCATED_MAX_STATS;
  if (stride == 0) stride = 1;
  auto usage = stat_objects(data, h.object_prefix, snap_id, 0, n, stride);
  if (!usage.ok()) return usage.err();
  uint64_t bytes = 0;
  for (const auto& u : *usage) bytes += u.size;
  return bytes * stride;
}

Result<uint64_t> seek_objects(librados::IoCtx& md, librados::IoCtx& data, const ImageHeader& h,
                              uint64_t snap_id, uint64_t size, uint64_t off, bool want_data) {
  if (off >= size) return Errno(ENXIO);
  // A clone's overlap reads through to its parent: data, as far as this
  // image can tell (never a hole a sparse copy would skip).
  if (uint64_t overlap = h.overlap_at(snap_id); off < overlap) {
    if (want_data) return off;
    return overlap >= size ? size : seek_objects(md, data, h, snap_id, size, overlap, false);
  }
  const Layout& l = h.layout;
  const uint64_t unit = l.stripe_unit;
  const uint64_t nobj = object_count(l, size);
  if (auto map = trusted_object_map(md, h, snap_id)) {
    auto present = [&](uint64_t o) { return map->get(o) != object_map::NONEXISTENT; };
    for (uint64_t pos = off; pos < size;) {
      // a whole object set on the wrong side: skip it (not unit by unit)
      uint64_t first = (pos / l.period()) * l.stripe_count;
      bool uniform = true;
      for (uint64_t k = 1; k < l.stripe_count && uniform; ++k)
        uniform = present(first + k) == present(first);
      if (uniform && present(first) != want_data) {
        pos = (pos / l.period() + 1) * l.period();
        continue;
      }
      if (present(object_of(l, pos)) == want_data) return pos;
      pos = (pos / unit + 1) * unit;
    }
    if (want_data) return Errno(ENXIO);
    return size;
  }
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
      auto usage = stat_objects(data, h.object_prefix, snap_id, known, last);
      if (!usage.ok()) return usage.err();
      present.resize(last - base, false);
      for (const auto& u : *usage) present[u.object_no - base] = true;
      known = last;
      batch = std::min<uint64_t>(batch * 2, 4096);
    }
    if (present[o - base] == want_data) return pos;
  }
  if (want_data) return Errno(ENXIO);
  return size;
}

}  // namespace rbdfs::core
