// The object map of an image (OBJECT_MAP feature): one BitVector<2> object
// per image head and per snapshot, in the metadata pool (reference §3).
//
// So far: loading a map. Keeping the head map up to date under the
// exclusive lock (issue 11) builds on this.
#pragma once

#include <rados/librados.hpp>

#include <optional>
#include <string>

#include "core/object_map_codec.h"
#include "core/result.h"

namespace rbdfs::core {

// object_map_load of the head map, or of snapshot `snap_id`'s map.
// ENOENT when there is none.
Result<object_map::Map> load_object_map(librados::IoCtx& md, const std::string& image_id,
                                        std::optional<uint64_t> snap_id = {});

}  // namespace rbdfs::core
