// Helpers shared by the parts of the filesystem (filesystem.cc, fs_*.cc).
// Internal to fuse/.
#pragma once

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <string>
#include <utility>

#include "core/cluster.h"
#include "core/names.h"
#include "core/pool.h"
#include "fuse/filesystem.h"

namespace rbdfs::ll {

using core::Errno;
using core::Result;
using core::Status;
using Clock = std::chrono::steady_clock;

inline constexpr const char* SNAP_DIR = ".snap";
inline constexpr const char* TRASH_DIR = ".trash";
// A namespace that shares its name with an image of the pool's default
// namespace is listed as <name>@ns (always reachable so): image names
// cannot hold '@'.
inline constexpr const char* NS_SUFFIX = "@ns";
inline constexpr double ENTRY_TIMEOUT = 1.0;
inline constexpr double ATTR_TIMEOUT = 1.0;
inline constexpr auto LISTING_TTL = std::chrono::seconds(1);
inline constexpr auto POOLS_TTL = std::chrono::seconds(2);
// How long a request waits for a connect under way after a blocklisting.
inline constexpr auto RECONNECT_WAIT = std::chrono::seconds(10);
inline constexpr auto POOL_MISS_WAIT =
    std::chrono::seconds(2);  // an unknown pool name: new OSD map
inline constexpr auto BLOCKS_TTL = std::chrono::seconds(5);
inline constexpr uint64_t BLOCKS_WARM_OBJECTS = 4096;  // ls -l computes st_blocks up to this
inline constexpr auto ID_TTL = std::chrono::seconds(1);
inline constexpr auto HEADER_TTL = std::chrono::seconds(1);  // headers of images not open
inline constexpr uint64_t MAX_COPY = 1ull << 30;             // bytes per copy_file_range answer

// The caches kept per image (name -> id, headers, st_blocks) would hold an
// entry for every image the mount ever saw: over a pool whose images come
// and go, without end. After an insert, once the map has doubled since the
// last sweep (and holds SWEEP_FLOOR entries), this drops what has expired:
// O(1) amortized per insert, and a map holds about twice what one TTL saw.
inline constexpr size_t SWEEP_FLOOR = 256;
template <typename Map, typename Expired>
void sweep_expired(Map& m, size_t& mark, Expired expired) {
  if (m.size() < std::max(SWEEP_FLOOR, 2 * mark)) return;
  std::erase_if(m, [&](const auto& kv) { return expired(kv.second); });
  mark = m.size();
}

inline std::string image_key(const std::string& pool, const std::string& image) {
  return pool + '/' + image;
}

// Names the tree keeps for itself in a pool or namespace directory.
inline bool reserved_name(const std::string& name) { return name == SNAP_DIR || name == TRASH_DIR; }

// "pool/ns" -> ("pool", "ns"); "pool" -> ("pool", "").
inline std::pair<std::string, std::string> split_pool_spec(const std::string& spec) {
  auto slash = spec.find('/');
  if (slash == std::string::npos) return {spec, ""};
  return {spec.substr(0, slash), spec.substr(slash + 1)};
}

inline struct timespec to_ts(const core::cls::UTime& t) {
  struct timespec ts {};
  ts.tv_sec = static_cast<time_t>(t.sec);
  ts.tv_nsec = static_cast<long>(t.nsec);
  return ts;
}

inline Handle* handle_of(fuse_file_info* fi) {
  return reinterpret_cast<Handle*>(static_cast<uintptr_t>(fi->fh));
}

inline void reply_status(fuse_req_t req, const Status& s) { fuse_reply_err(req, s.error()); }

// RADOS answers ESHUTDOWN only to a client instance that was blocklisted:
// marks the pool's instance (pool() and cluster() then connect anew) and
// passes `r` through. For changes, which are not repeated: which of their
// steps landed is not known.
template <typename R>
R noted(core::Pool& p, R r) {
  if (r.error() == ESHUTDOWN) p.cluster()->note_blocklisted();
  return r;
}

template <typename F>
auto Filesystem::read_pool(const std::string& name, F&& fn)
    -> decltype(fn(std::declval<core::Pool&>())) {
  for (int attempt = 0;; ++attempt) {
    auto p = pool(name);  // (its own ESHUTDOWN is marked too)
    decltype(fn(**p)) r = p.ok() ? noted(**p, fn(**p)) : decltype(fn(**p))(p.err());
    if (r.error() != ESHUTDOWN || attempt > 0) return r;
  }
}

template <typename F>
auto Filesystem::change_pool(const std::string& name, F&& fn)
    -> decltype(fn(std::declval<core::Pool&>())) {
  auto p = pool(name);
  if (!p.ok()) return p.err();
  return noted(**p, fn(**p));
}

}  // namespace rbdfs::ll
