// Encoders and decoders for the cls "rbd" methods rbdfs calls. Pure: bytes
// in, bytes or values out; no RADOS. Every decoder is bounds-checked and
// returns EIO for a malformed reply (the caller logs one line); none can
// crash or read out of bounds on any input (see tests/fuzz).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace rbdfs::core::cls {

inline constexpr uint64_t NOSNAP = ~0ull - 1;  // CEPH_NOSNAP

struct UTime {
  uint32_t sec = 0;
  uint32_t nsec = 0;
};

struct SizeInfo {
  uint8_t order = 0;
  uint64_t size = 0;
};

struct FeaturesInfo {
  uint64_t features = 0;
  uint64_t incompatible = 0;
};

struct StripeInfo {
  uint64_t unit = 0;
  uint64_t count = 0;
};

struct SnapContext {
  uint64_t seq = 0;
  std::vector<uint64_t> snaps;  // descending
  bool operator==(const SnapContext&) const = default;
};

enum SnapshotNamespaceType : uint32_t {
  SNAP_NS_USER = 0,
  SNAP_NS_GROUP = 1,
  SNAP_NS_TRASH = 2,
  SNAP_NS_MIRROR = 3,
};

struct SnapshotInfo {
  uint64_t id = 0;
  uint32_t ns_type = SNAP_NS_USER;
  std::string name;
  uint64_t image_size = 0;
  UTime timestamp;
  uint32_t child_count = 0;
};

struct ParentSpec {
  int64_t pool_id = -1;
  std::string pool_namespace;
  std::string image_id;
  uint64_t snap_id = NOSNAP;
  bool exists() const { return pool_id >= 0; }
};

// Why an image is in the trash (cls_rbd_types.h TrashImageSource).
enum TrashSource : uint8_t {
  TRASH_SOURCE_USER = 0,
  TRASH_SOURCE_MIRRORING = 1,
  TRASH_SOURCE_MIGRATION = 2,
  TRASH_SOURCE_REMOVING = 3,
  TRASH_SOURCE_USER_PARENT = 4,
};
enum TrashState : uint8_t {
  TRASH_STATE_NORMAL = 0,
  TRASH_STATE_MOVING = 1,
  TRASH_STATE_REMOVING = 2,
  TRASH_STATE_RESTORING = 3,
};

struct TrashSpec {
  uint8_t source = TRASH_SOURCE_USER;
  std::string name;
  UTime deletion_time;
  UTime deferment_end_time;
  uint8_t state = TRASH_STATE_NORMAL;
};

// --- inputs -------------------------------------------------------------
std::string enc_dir_list(std::string_view start_after, uint64_t max_return);
std::string enc_snap_id(uint64_t snap_id);  // get_size, snapshot_get, ...
std::string enc_get_features(uint64_t snap_id, bool read_only);
std::string enc_string(std::string_view s);  // set_id, dir_get_id, trash_get
std::string enc_create(uint64_t size, uint8_t order, uint64_t features,
                       std::string_view object_prefix, int64_t data_pool_id);
std::string enc_dir_add_image(std::string_view name, std::string_view id);
std::string enc_dir_remove_image(std::string_view name, std::string_view id);
std::string enc_dir_rename_image(std::string_view src, std::string_view dest, std::string_view id);
std::string enc_set_size(uint64_t size);
std::string enc_set_stripe_unit_count(uint64_t unit, uint64_t count);
std::string enc_snapshot_add(uint64_t snap_id, std::string_view name);
std::string enc_snapshot_rename(uint64_t snap_id, std::string_view new_name);
std::string enc_trash_add(std::string_view id, const TrashSpec& spec);
std::string enc_trash_state_set(std::string_view id, uint8_t state, uint8_t expect_state);
std::string enc_trash_list(std::string_view start_after, uint64_t max_return);
// Namespaces (reference §5): namespace_add/namespace_remove take the name
// (enc_string), namespace_list (start_after, max_return) answers a list of
// names; dir_state_set/dir_state_assert on a namespace's rbd_directory.
inline constexpr uint8_t DIR_STATE_READY = 0;
inline constexpr uint8_t DIR_STATE_ADD_DISABLED = 1;
std::string enc_u8(uint8_t v);
// Image metadata (`rbd image-meta`): metadata_set takes a map of key ->
// value, metadata_list (start_after, max_return) answers one;
// metadata_remove takes the key (enc_string).
std::string enc_metadata_set(const std::map<std::string, std::string>& kv);
std::string enc_metadata_list(std::string_view start_after, uint64_t max_return);
// Clones (reference §4.1-4.2, §4.7):
// parent_attach: ParentImageSpec (versioned), overlap, reattach.
std::string enc_parent_attach(const ParentSpec& parent, uint64_t overlap, bool reattach);
// op_features_set: (op_features & mask) set, the rest of mask cleared.
std::string enc_op_features_set(uint64_t op_features, uint64_t mask);
// child_attach / child_detach on the parent's header: the parent snapshot
// and ChildImageSpec {pool_id, image_id, pool_namespace} (versioned 2,1).
std::string enc_child_attach(uint64_t snap_id, int64_t child_pool, std::string_view child_id,
                             std::string_view child_namespace);
// remove_child on rbd_children (v1 clones): the parent's pool, image and
// snapshot, then the child's id (no namespace: v1 has none).
std::string enc_remove_child(const ParentSpec& parent, std::string_view child_id);
inline constexpr uint64_t OP_FEATURE_CLONE_PARENT = 1;
inline constexpr uint64_t OP_FEATURE_CLONE_CHILD = 2;
inline constexpr const char* RBD_CHILDREN = "rbd_children";

// set_flags: (old & ~mask) | (flags & mask), on the head or a snapshot.
std::string enc_set_flags(uint64_t flags, uint64_t mask, uint64_t snap_id = NOSNAP);

// --- outputs ------------------------------------------------------------
Result<std::map<std::string, std::string>> dec_string_map(std::string_view in);
Result<std::string> dec_string(std::string_view in);
Result<SizeInfo> dec_size(std::string_view in);
Result<FeaturesInfo> dec_features(std::string_view in);
Result<StripeInfo> dec_stripe(std::string_view in);
Result<SnapContext> dec_snapcontext(std::string_view in);
Result<SnapshotInfo> dec_snapshot_info(std::string_view in);
Result<ParentSpec> dec_parent(std::string_view in);
Result<int64_t> dec_i64(std::string_view in);
Result<uint64_t> dec_u64(std::string_view in);
// parent_overlap_get: optional<u64> (u8 present, then the value); nullopt
// when the image has no parent at that snapshot or at the head.
Result<std::optional<uint64_t>> dec_optional_u64(std::string_view in);
Result<uint8_t> dec_u8(std::string_view in);
Result<UTime> dec_utime(std::string_view in);
Result<TrashSpec> dec_trash_spec(std::string_view in);
Result<std::map<std::string, TrashSpec>> dec_trash_list(std::string_view in);
// namespace_list: a list of strings.
Result<std::vector<std::string>> dec_string_list(std::string_view in);

}  // namespace rbdfs::core::cls
