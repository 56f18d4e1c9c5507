#include "core/striper.h"

#include <algorithm>
#include <cstdio>
#include <map>

namespace rbdfs::core {

Layout Layout::make(uint64_t object_size, uint64_t stripe_unit, uint64_t stripe_count) {
  Layout l;
  l.object_size = object_size;
  if (stripe_unit == 0 || stripe_count == 0 || stripe_count == 1) {
    l.stripe_unit = object_size;
    l.stripe_count = 1;
  } else {
    l.stripe_unit = stripe_unit;
    l.stripe_count = stripe_count;
  }
  return l;
}

bool Layout::valid() const {
  return object_size > 0 && stripe_unit > 0 && stripe_count > 0 && stripe_unit <= object_size &&
         object_size % stripe_unit == 0;
}

std::vector<ObjectExtent> map_extent(const Layout& l, uint64_t offset, uint64_t length) {
  std::vector<ObjectExtent> out;
  if (length == 0) return out;
  const uint64_t su = l.stripe_unit, sc = l.stripe_count;
  const uint64_t spo = l.object_size / su;

  if (sc == 1) {
    // Fast path: plain chunking by object.
    uint64_t pos = offset, end = offset + length;
    out.reserve(static_cast<size_t>((end - 1) / l.object_size - offset / l.object_size + 1));
    while (pos < end) {
      uint64_t objno = pos / l.object_size;
      uint64_t off = pos % l.object_size;
      uint64_t len = std::min(end - pos, l.object_size - off);
      out.push_back({objno, off, len, {{pos - offset, len}}});
      pos += len;
    }
    return out;
  }

  // Fancy striping: walk stripe units and merge per object when adjacent.
  std::map<uint64_t, std::vector<ObjectExtent>> per_object;
  uint64_t pos = offset, end = offset + length;
  while (pos < end) {
    uint64_t blockno = pos / su;
    uint64_t stripeno = blockno / sc;
    uint64_t stripepos = blockno % sc;
    uint64_t objectsetno = stripeno / spo;
    uint64_t objno = objectsetno * sc + stripepos;
    uint64_t block_off = pos % su;
    uint64_t obj_off = (stripeno % spo) * su + block_off;
    uint64_t len = std::min(end - pos, su - block_off);
    auto& exts = per_object[objno];
    if (!exts.empty() && exts.back().offset + exts.back().length == obj_off) {
      ObjectExtent& e = exts.back();
      e.length += len;
      BufferExtent& b = e.buffer.back();
      if (b.buffer_offset + b.length == pos - offset)
        b.length += len;
      else
        e.buffer.push_back({pos - offset, len});
    } else {
      exts.push_back({objno, obj_off, len, {{pos - offset, len}}});
    }
    pos += len;
  }
  for (auto& [objno, exts] : per_object)
    for (auto& e : exts) out.push_back(std::move(e));
  return out;
}

uint64_t object_of(const Layout& l, uint64_t offset) {
  const uint64_t su = l.stripe_unit, sc = l.stripe_count;
  const uint64_t spo = l.object_size / su;
  uint64_t blockno = offset / su;
  uint64_t stripeno = blockno / sc;
  return (stripeno / spo) * sc + blockno % sc;
}

uint64_t object_to_image(const Layout& l, uint64_t object_no, uint64_t object_offset) {
  const uint64_t su = l.stripe_unit, sc = l.stripe_count;
  const uint64_t spo = l.object_size / su;
  uint64_t objectsetno = object_no / sc;
  uint64_t stripepos = object_no % sc;
  uint64_t stripe_in_set = object_offset / su;
  uint64_t stripeno = objectsetno * spo + stripe_in_set;
  uint64_t blockno = stripeno * sc + stripepos;
  return blockno * su + object_offset % su;
}

std::vector<ImageRun> object_image_extents(const Layout& l, uint64_t object_no, uint64_t offset,
                                           uint64_t length) {
  std::vector<ImageRun> out;
  const uint64_t su = l.stripe_unit;
  uint64_t end = std::min(offset + length, l.object_size);
  for (uint64_t o = offset; o < end;) {
    uint64_t n = std::min(end, (o / su + 1) * su) - o;  // to the end of this unit
    uint64_t img = object_to_image(l, object_no, o);
    if (!out.empty() && out.back().image_offset + out.back().length == img)
      out.back().length += n;
    else
      out.push_back(ImageRun{o, img, n});
    o += n;
  }
  return out;
}

uint64_t object_count(const Layout& l, uint64_t size) {
  if (size == 0) return 0;
  const uint64_t period = l.period();
  uint64_t full_sets = size / period;
  uint64_t rest = size % period;
  uint64_t n = full_sets * l.stripe_count;
  if (rest) n += std::min(l.stripe_count, (rest + l.stripe_unit - 1) / l.stripe_unit);
  return n;
}

uint64_t object_valid_length(const Layout& l, uint64_t object_no, uint64_t size) {
  // Stripe units of this object sit at object offsets 0, su, 2su, ...; the
  // image offsets rise with them, so find the last unit that starts below
  // `size`.
  const uint64_t su = l.stripe_unit;
  const uint64_t spo = l.object_size / su;
  uint64_t lo = 0, hi = spo;  // units [0, hi) are candidates
  // number of units whose image start < size (monotone in unit index)
  while (lo < hi) {
    uint64_t mid = (lo + hi) / 2;
    if (object_to_image(l, object_no, mid * su) < size)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo == 0) return 0;
  uint64_t last_unit_start = object_to_image(l, object_no, (lo - 1) * su);
  uint64_t in_last = std::min(su, size - last_unit_start);
  return (lo - 1) * su + in_last;
}

}  // namespace rbdfs::core
