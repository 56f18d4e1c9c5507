// Names of an image's RADOS objects, and what rbd accepts as a name.
// Pure; part of rbdfs_codec.
//
//   rbd_directory                 name <-> id of every image of a pool
//   rbd_id.<name>                 the image's id
//   rbd_header.<id>               the image's header (cls "rbd" keys)
//   <prefix>.<16 hex digits>      data object N (prefix = rbd_data.<id>)
#pragma once

#include <cstdint>
#include <string>

namespace rbdfs::core {

inline constexpr const char* RBD_DIRECTORY = "rbd_directory";
inline std::string id_object(const std::string& name) { return "rbd_id." + name; }
inline std::string header_object(const std::string& id) { return "rbd_header." + id; }

// "rbd_data.abc" + 5 -> "rbd_data.abc.0000000000000005"
std::string object_name(const std::string& prefix, uint64_t object_no);

// Validates an image or snapshot name the way rbd does: non-empty, at most
// 255 bytes, no '/', no '@', no control characters.
bool valid_rbd_name(const std::string& name);

}  // namespace rbdfs::core
