#include "core/write_combiner.h"

#include <algorithm>

namespace rbdfs::core {

CombinePlan plan_combine(std::optional<ByteRange> held, uint64_t off, uint64_t len,
                         uint64_t object_size, uint64_t last_end) {
  CombinePlan p;
  const uint64_t end = off + len;
  uint64_t rest = off;  // the write from here on is not joined
  if (held && off == held->end()) {
    const uint64_t object_end = (held->off / object_size + 1) * object_size;
    p.join = std::min(len, object_end - off);
    p.held_full = off + p.join == object_end;
    rest += p.join;
  } else if (held) {
    p.send_held_first = true;
  }
  if (rest == end) return p;
  // Only a write that starts an object, or continues the one before, is
  // likely to be continued: anything else is sent as it is.
  const bool sequential = p.join > 0 || rest % object_size == 0 || rest == last_end;
  const uint64_t tail = end / object_size * object_size;  // the last object's start
  if (!sequential || tail == end) {
    p.direct = {rest, end - rest};
  } else if (tail <= rest) {
    p.hold = {rest, end - rest};
  } else {
    p.direct = {rest, tail - rest};
    p.hold = {tail, end - tail};
  }
  return p;
}

}  // namespace rbdfs::core
