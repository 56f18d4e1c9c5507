// Sequential write combining: where the pieces of a sequential write go.
//
// The kernel hands FUSE writes over in pieces of at most max_write (1 MiB
// minus a page here), which do not line up with objects: a 4 MiB object
// written by cp got five writes, one of them split across two objects. An
// image that is written sequentially, with write-around, instead holds
// back the part of a write that ends inside an object (already
// acknowledged) and joins the writes that continue it, so the object gets
// one write of all of it (a write_full when it is the whole object), as
// `rbd import` writes. Anything that must see the data first (a read,
// discard or seek of the range, a flush, a snapshot, giving the lock up,
// 5 ms without a write) sends the held part first (core/image.h).
//
// This unit is the arithmetic alone: for one write, what joins the held
// extent, what is sent now and what is held next. Pure, unit-tested.
// Only for layouts with a stripe count of 1 (an image range then lies in
// its objects in order).
#pragma once

#include <cstdint>
#include <optional>

namespace rbdfs::core {

struct ByteRange {
  uint64_t off = 0;
  uint64_t len = 0;
  uint64_t end() const { return off + len; }
  bool operator==(const ByteRange&) const = default;
};

struct CombinePlan {
  // The held extent is sent before anything of this write (the write
  // does not continue it).
  bool send_held_first = false;
  // The first `join` bytes of the write are appended to the held extent;
  // with `held_full` it then reaches its object's end and is sent.
  uint64_t join = 0;
  bool held_full = false;
  // Sent now as an ordinary write (after the held extent, if sent).
  ByteRange direct;
  // Held back as the new held extent (within one object, not reaching
  // its end).
  ByteRange hold;
};

// `held`: the extent held now, if any; [off, off+len): the write (len > 0);
// `last_end`: where the image's previous write ended (a write starting
// there is sequential even when nothing is held).
CombinePlan plan_combine(std::optional<ByteRange> held, uint64_t off, uint64_t len,
                         uint64_t object_size, uint64_t last_end);

}  // namespace rbdfs::core
