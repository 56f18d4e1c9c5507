// The image's state as its header object records it: size, layout,
// features, snapshot context and snapshots, parent, timestamps, and what
// rbdfs may do with it. Read with two compound cls "rbd" calls.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/cls_rbd.h"
#include "core/result.h"
#include "core/striper.h"

namespace rbdfs::core {

// Image metadata keys (`rbd image-meta list` shows them; librbd ignores
// them): decimal uid and gid, octal permission bits (0777 at most).
inline constexpr const char* OWNER_KEY_PREFIX = "rbdfs.";
inline constexpr const char* OWNER_KEY_UID = "rbdfs.uid";
inline constexpr const char* OWNER_KEY_GID = "rbdfs.gid";
inline constexpr const char* OWNER_KEY_MODE = "rbdfs.mode";

struct ImageHeader {
  std::string pool;
  std::string name;
  std::string id;
  uint64_t size = 0;
  uint8_t order = 22;
  std::string object_prefix;
  uint64_t features = 0;
  uint64_t flags = 0;
  Layout layout;
  int64_t data_pool_id = -1;
  cls::SnapContext snapc;
  std::vector<cls::SnapshotInfo> snapshots;  // ascending by id
  cls::ParentSpec parent;                    // kept after a flatten while snapshots still use it
  // How much of the image reads through to the parent (image bytes below
  // it), at the head and at each snapshot that has the parent (a flatten
  // leaves the parent to the snapshots that still use it).
  bool parent_at_head = false;
  uint64_t parent_overlap = 0;                       // at the head (0 without)
  std::map<uint64_t, uint64_t> snap_parent_overlap;  // only snapshots with the parent
  cls::UTime create_timestamp;
  cls::UTime modify_timestamp;
  // Image metadata under rbdfs's own keys (OWNER_KEY_*): who owns the file
  // and its mode, where a chown or chmod through a mount stored them.
  std::optional<uint32_t> owner_uid, owner_gid, owner_mode;
  std::string read_only_reason;   // empty: writable
  std::string unreadable_reason;  // non-empty: open() refuses (EOPNOTSUPP)

  const cls::SnapshotInfo* find_snap(const std::string& name) const;
  const cls::SnapshotInfo* find_snap_id(uint64_t id) const;
  // The image's size at `snap_id` (cls::NOSNAP: the head); ENOENT for a
  // snapshot that is gone.
  Result<uint64_t> size_at(uint64_t snap_id) const;
  // The parent overlap at `snap_id` (cls::NOSNAP: the head), never past
  // the image's size there; 0 when that has no parent.
  uint64_t overlap_at(uint64_t snap_id) const;
};

}  // namespace rbdfs::core
