// cls "lock" as RBD's exclusive lock uses it on rbd_header.<id> (and on
// rbd_object_map.<id>): encoders for the method inputs, a decoder for
// get_info's reply, and the lock cookie librbd and krbd use. Pure (no I/O);
// part of rbdfs_codec, fuzzed.
//
// References: ../shared/reference/rbd-lock-objectmap-clones.md §1.1-1.2.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/cls_rbd.h"
#include "core/result.h"

namespace rbdfs::cls_lock {

inline constexpr const char* RBD_LOCK_NAME = "rbd_lock";
inline constexpr const char* RBD_LOCK_TAG = "internal";  // librbd/krbd locks
enum LockType : uint8_t { NONE = 0, EXCLUSIVE = 1, SHARED = 2 };

// "auto <watch handle>", and back (nullopt: not a librbd/krbd cookie).
std::string lock_cookie(uint64_t watch_handle);
std::optional<uint64_t> parse_lock_cookie(std::string_view cookie);

// entity_name_t: the locker, e.g. client.4123 = {type 8, num 4123}.
struct Entity {
  uint8_t type = 8;  // CEPH_ENTITY_TYPE_CLIENT
  int64_t num = 0;
  bool operator==(const Entity&) const = default;
};

struct Locker {
  Entity entity;
  std::string cookie;
  std::string address;  // "IP:port/nonce" (legacy string form, as list_watchers gives)
  std::string description;
};

struct LockInfo {
  std::vector<Locker> lockers;
  uint8_t type = NONE;
  std::string tag;
};

std::string enc_lock(std::string_view name, uint8_t type, std::string_view cookie,
                     std::string_view tag, std::string_view description = "", uint8_t flags = 0);
std::string enc_unlock(std::string_view name, std::string_view cookie);
std::string enc_break_lock(std::string_view name, const Entity& locker, std::string_view cookie);
std::string enc_get_info(std::string_view name);
std::string enc_assert_locked(std::string_view name, uint8_t type, std::string_view cookie,
                              std::string_view tag);
std::string enc_set_cookie(std::string_view name, uint8_t type, std::string_view cookie,
                           std::string_view tag, std::string_view new_cookie);

// get_info's reply; EIO when malformed. Addresses come in the new
// (marker 1) or the legacy (marker 0) encoding: both are decoded.
core::Result<LockInfo> dec_lock_info(std::string_view in);

}  // namespace rbdfs::cls_lock
