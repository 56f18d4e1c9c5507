// What exists of an image: usage for st_blocks, data and holes for lseek.
// From the object map when the image has one that is not flagged invalid
// (two round trips, whatever the size); else by stat'ing data objects.
#pragma once

#include <rados/librados.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core/header.h"
#include "core/object_map_codec.h"
#include "core/result.h"

namespace rbdfs::core {

// An object of an image that exists, and its size in bytes.
struct ObjectUsage {
  uint64_t object_no;
  uint64_t size;
};

// Stats objects [first, last) of the image whose data objects are
// `prefix`.N in `data`, at `snap_id`, in parallel batches, every `stride`th
// one from `first`; absent ones are left out.
Result<std::vector<ObjectUsage>> stat_objects(librados::IoCtx& data, const std::string& prefix,
                                              uint64_t snap_id, uint64_t first, uint64_t last,
                                              uint64_t stride = 1);

// The object map at `snap_id` (head: cls::NOSNAP) when it can be trusted:
// the image has OBJECT_MAP and get_flags says it is not invalid. nullopt
// otherwise. Maintained by lock holders, it may say EXISTS for an object a
// write is about to create; never NONEXISTENT for one that exists.
std::optional<object_map::Map> trusted_object_map(librados::IoCtx& md, const ImageHeader& h,
                                                  uint64_t snap_id);

// Bytes held by the objects of an image of `size` bytes at `snap_id`, for
// st_blocks. With a trusted map: the valid length of every object it says
// exists (as `rbd du` counts). Else by stat: exact up to
// ALLOCATED_MAX_STATS objects; beyond, an evenly spaced sample of that
// many objects scaled up (bounded cost at any size).
Result<uint64_t> allocated_bytes(librados::IoCtx& md, librados::IoCtx& data, const ImageHeader& h,
                                 uint64_t snap_id, uint64_t size);
inline constexpr uint64_t ALLOCATED_MAX_STATS = 65536;

// lseek SEEK_DATA (want_data) / SEEK_HOLE in an image of `size` bytes at
// `snap_id`, from `off`, at stripe-unit granularity: looks only at the
// objects from `off` on, in parallel batches that double in size (64 ..
// 4096 objects). ENXIO past the end, and for SEEK_DATA when no data follows.
Result<uint64_t> seek_objects(librados::IoCtx& md, librados::IoCtx& data, const ImageHeader& h,
                              uint64_t snap_id, uint64_t size, uint64_t off, bool want_data);

}  // namespace rbdfs::core
