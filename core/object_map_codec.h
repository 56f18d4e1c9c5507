// The object map's on-disk form (Ceph's BitVector<2>, two bits per
// object) and the inputs of the cls "rbd" object-map methods. Pure (no
// I/O); part of rbdfs_codec, fuzzed.
//
//   u32 header_len (14) | 01 01 08 00 00 00 u64 n_objects
//   ceil(n/4) data bytes, no length: object i at byte i>>2, bits
//     (3 - (i & 3)) * 2 (object 0 = the two high bits of byte 0)
//   u32 footer_len | footer (CRCs; object_map_load returns none)
//
// References: ../shared/reference/rbd-lock-objectmap-clones.md §3.1-3.4.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace rbdfs::object_map {

enum State : uint8_t { NONEXISTENT = 0, EXISTS = 1, PENDING = 2, EXISTS_CLEAN = 3 };
inline constexpr uint64_t MAX_OBJECTS = 256000000;

// "rbd_object_map.<id>" (head) or "rbd_object_map.<id>.<snap id, %016llx>".
std::string map_object(const std::string& image_id, std::optional<uint64_t> snap_id = {});

class Map {
 public:
  Map() = default;
  explicit Map(uint64_t n, State fill = NONEXISTENT);
  uint64_t size() const { return m_n; }
  State get(uint64_t i) const;
  void set(uint64_t i, State s);
  void resize(uint64_t n, State fill = NONEXISTENT);
  // The bytes object_map_save takes (no footer: CRCs disabled).
  std::string encode() const;

 private:
  friend core::Result<Map> decode(std::string_view in);
  void clear_tail();  // bits of the last byte past m_n are zero

  uint64_t m_n = 0;
  std::vector<uint8_t> m_bits;
};

// object_map_load's reply (a footer, if any, is skipped). EIO when
// malformed: short, more than MAX_OBJECTS, or data that does not fit.
core::Result<Map> decode(std::string_view in);

// The rule librbd and krbd share (ObjectMap::update_required): does moving
// an object from `cur` to `next` need a map update? EXISTS_CLEAN -> EXISTS
// does (fast-diff depends on it); PENDING is skipped for an absent object,
// and NONEXISTENT is written only from PENDING.
bool update_needed(State cur, State next);

// object_map_update: [start, end) to `state`, only where the entry is
// `current` (when given).
std::string enc_update(uint64_t start, uint64_t end, State state,
                       std::optional<State> current = {});
// object_map_resize: to `n` objects, new entries `fill`.
std::string enc_resize(uint64_t n, State fill);

}  // namespace rbdfs::object_map
