// RBD feature bits (include/rbd/features.h) and what rbdfs does with them.
#pragma once

#include <cstdint>
#include <string>

namespace rbdfs::core {

inline constexpr uint64_t FEATURE_LAYERING = 1ull << 0;
inline constexpr uint64_t FEATURE_STRIPINGV2 = 1ull << 1;
inline constexpr uint64_t FEATURE_EXCLUSIVE_LOCK = 1ull << 2;
inline constexpr uint64_t FEATURE_OBJECT_MAP = 1ull << 3;
inline constexpr uint64_t FEATURE_FAST_DIFF = 1ull << 4;
inline constexpr uint64_t FEATURE_DEEP_FLATTEN = 1ull << 5;
inline constexpr uint64_t FEATURE_JOURNALING = 1ull << 6;
inline constexpr uint64_t FEATURE_DATA_POOL = 1ull << 7;
inline constexpr uint64_t FEATURE_OPERATIONS = 1ull << 8;
inline constexpr uint64_t FEATURE_MIGRATING = 1ull << 9;
inline constexpr uint64_t FEATURE_NON_PRIMARY = 1ull << 10;
inline constexpr uint64_t FEATURE_DIRTY_CACHE = 1ull << 11;

// A client that does not understand these must not read the image.
inline constexpr uint64_t FEATURES_INCOMPATIBLE =
    FEATURE_LAYERING | FEATURE_STRIPINGV2 | FEATURE_DATA_POOL;

// What rbdfs reads correctly (clones with a parent are refused separately).
inline constexpr uint64_t FEATURES_READ_SUPPORTED =
    FEATURE_LAYERING | FEATURE_STRIPINGV2 | FEATURE_DATA_POOL;

// What rbdfs writes without breaking other clients: exclusive-lock and the
// object map (with fast-diff) are kept as librbd keeps them. deep-flatten
// only constrains copy-up, which needs a parent, and images with a parent
// are not written by rbdfs yet; `operations` only marks an image that was
// cloned from (its op features are about clone v2 children).
inline constexpr uint64_t FEATURES_WRITE_SUPPORTED =
    FEATURE_LAYERING | FEATURE_STRIPINGV2 | FEATURE_DATA_POOL | FEATURE_DEEP_FLATTEN |
    FEATURE_EXCLUSIVE_LOCK | FEATURE_OBJECT_MAP | FEATURE_FAST_DIFF | FEATURE_OPERATIONS;

// Header flags (get_flags/set_flags): a map a client could not keep.
inline constexpr uint64_t FLAG_OBJECT_MAP_INVALID = 1;
inline constexpr uint64_t FLAG_FAST_DIFF_INVALID = 2;

// Every bit Pacific knows.
inline constexpr uint64_t FEATURES_KNOWN = (1ull << 12) - 1;

// "layering,exclusive-lock" -> bits. Also accepts a decimal number.
bool parse_feature_list(const std::string& text, uint64_t* out, std::string* error);
// bits -> "layering, striping" (unknown bits as hex)
std::string feature_names(uint64_t features);

}  // namespace rbdfs::core
