// RBD striping: image offsets to object extents and back. Pure arithmetic,
// no I/O, following the layout of Ceph's Striper::file_to_extents:
//
//   su = stripe unit, sc = stripe count, os = object size, spo = os / su
//   blockno = off / su          stripeno  = blockno / sc
//   stripepos = blockno % sc    objectset = stripeno / spo
//   objectno = objectset * sc + stripepos
//   object offset = (stripeno % spo) * su + off % su
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rbdfs::core {

struct Layout {
  uint64_t object_size = 4ull << 20;
  uint64_t stripe_unit = 4ull << 20;
  uint64_t stripe_count = 1;

  // The layout librbd uses for an image: su/sc of 0 mean "object size, 1",
  // and a stripe count of 1 makes the stripe unit the object size.
  static Layout make(uint64_t object_size, uint64_t stripe_unit, uint64_t stripe_count);
  // true when the values are usable: non-zero, su divides os.
  bool valid() const;
  uint64_t period() const { return object_size * stripe_count; }
  bool operator==(const Layout&) const = default;
};

// A piece of a request: `length` bytes at `buffer_offset` in the caller's
// buffer.
struct BufferExtent {
  uint64_t buffer_offset;
  uint64_t length;
};

// One object's part of a request: a contiguous range of the object, and the
// pieces of the caller's buffer it maps to, in object order.
struct ObjectExtent {
  uint64_t object_no;
  uint64_t offset;  // in the object
  uint64_t length;
  std::vector<BufferExtent> buffer;
};

// Maps [offset, offset+length) of the image to object extents, one per
// object, sorted by object number. Within an object, consecutive stripe
// units that are adjacent in the object are merged into one extent; since
// object offsets rise with image offsets, each object gets exactly one
// contiguous range only when the request covers whole stripe rows between
// its ends, so an object may appear with several extents in general: they
// are returned separately, in object order then offset order.
std::vector<ObjectExtent> map_extent(const Layout& layout, uint64_t offset, uint64_t length);

// The object holding image byte `offset`.
uint64_t object_of(const Layout& layout, uint64_t offset);

// Image offset of byte `object_offset` of object `object_no`.
uint64_t object_to_image(const Layout& layout, uint64_t object_no, uint64_t object_offset);

// A run of an object that is contiguous in the image too.
struct ImageRun {
  uint64_t object_offset;
  uint64_t image_offset;
  uint64_t length;
  bool operator==(const ImageRun&) const = default;
};

// The reverse of map_extent: where [offset, offset+length) of object
// `object_no` lies in the image, in object order (image offsets rise with
// it), stripe units that are adjacent in the image merged.
std::vector<ImageRun> object_image_extents(const Layout& layout, uint64_t object_no,
                                           uint64_t offset, uint64_t length);

// Number of objects an image of `size` bytes can touch.
uint64_t object_count(const Layout& layout, uint64_t size);

// Bytes of object `object_no` that lie below image size `size` (0..os).
uint64_t object_valid_length(const Layout& layout, uint64_t object_no, uint64_t size);

}  // namespace rbdfs::core
