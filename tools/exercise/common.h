// The exerciser's shared pieces: constants, failures, checked syscalls,
// the byte pattern, aligned buffers, byte comparison.
#pragma once

#include <fcntl.h>
#include <linux/falloc.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/cluster.h"
#include "core/pool.h"

namespace rbdfs::exercise {

using core::Cluster;
using core::ClusterConfig;
using core::Image;
using core::Layout;
using core::Pool;
using core::Status;

constexpr uint64_t KiB = 1024, MiB = 1024 * KiB;
constexpr uint64_t DIO_ALIGN = 4096;
constexpr uint64_t CHUNK = 1 * MiB;  // comparisons go chunk by chunk
constexpr size_t HISTORY = 20;
constexpr size_t MAX_SNAPS = 3;     // live snapshots at most
constexpr uint64_t SNAP_NAMES = 5;  // ex0 .. ex4, reused

// A mismatch or an unexpected error: what happened, and details (lines).
struct Failure {
  std::string what;
  std::string detail;
};

[[noreturn]] inline void usage(const std::string& why) {
  std::fprintf(stderr, "rbdfs-exercise: %s (see the header of tools/rbdfs-exercise.cc)\n",
               why.c_str());
  std::exit(2);
}

inline std::string errno_text(int e) {
  const char* name = strerrorname_np(e);
  return std::string(std::strerror(e)) + " (" + (name ? name : std::to_string(e)) + ")";
}

[[noreturn]] inline void sys_fail(const std::string& call, int e) {
  throw Failure{call + ": " + errno_text(e), ""};
}

inline std::string hex(uint64_t v) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

inline std::string num(uint64_t v) { return std::to_string(v) + " (" + hex(v) + ")"; }

inline bool parse_u64(const std::string& s, uint64_t* out) {
  if (s.empty() || s[0] == '-') return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s.c_str(), &end, 0);
  if (errno) return false;
  uint64_t mul = 1;
  if (*end == 'K' || *end == 'k')
    mul = KiB, ++end;
  else if (*end == 'M')
    mul = MiB, ++end;
  else if (*end == 'G')
    mul = 1024 * MiB, ++end;
  if (*end) return false;
  *out = v * mul;
  return true;
}

inline std::string shell_quote(const std::string& s) {
  bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("@%+=:,./_-", c);
  });
  if (plain) return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// The byte op `op` writes at image offset `off`.
inline uint8_t pattern(uint64_t off, uint64_t op) { return static_cast<uint8_t>(off % 251 + op); }

inline void fill_pattern(char* buf, uint64_t off, uint64_t len, uint64_t op) {
  for (uint64_t i = 0; i < len; ++i) buf[i] = static_cast<char>(pattern(off + i, op));
}

// ---------------------------------------------------------------------------
// Error-checked I/O on file descriptors.

inline void pwrite_full(int fd, const char* buf, uint64_t len, uint64_t off,
                        const std::string& what) {
  uint64_t done = 0;
  while (done < len) {
    ssize_t r = ::pwrite(fd, buf + done, len - done, static_cast<off_t>(off + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      sys_fail("pwrite(" + what + ", off " + std::to_string(off + done) + ", len " +
                   std::to_string(len - done) + ")",
               errno);
    }
    if (r == 0) throw Failure{"pwrite(" + what + ") wrote nothing at " + num(off + done), ""};
    done += static_cast<uint64_t>(r);
  }
}

// Reads until `len` bytes or the end of the file; returns the bytes read.
// With `one_short` (O_DIRECT), a short read is taken as the end.
inline uint64_t pread_full(int fd, char* buf, uint64_t len, uint64_t off, const std::string& what,
                           bool one_short = false) {
  uint64_t done = 0;
  while (done < len) {
    const uint64_t want = len - done;
    ssize_t r = ::pread(fd, buf + done, want, static_cast<off_t>(off + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      sys_fail("pread(" + what + ", off " + std::to_string(off + done) + ", len " +
                   std::to_string(want) + ")",
               errno);
    }
    if (r == 0) break;
    done += static_cast<uint64_t>(r);
    if (one_short && static_cast<uint64_t>(r) < want) break;
  }
  return done;
}

inline uint64_t fd_size(int fd, const std::string& what) {
  struct stat st {};
  if (::fstat(fd, &st) < 0) sys_fail("fstat(" + what + ")", errno);
  return static_cast<uint64_t>(st.st_size);
}

// A buffer aligned for O_DIRECT.
struct AlignedBuf {
  explicit AlignedBuf(uint64_t n) {
    void* p = nullptr;
    int r = ::posix_memalign(&p, DIO_ALIGN, std::max<uint64_t>(n, DIO_ALIGN));
    if (r != 0) sys_fail("posix_memalign", r);
    data = static_cast<char*>(p);
  }
  ~AlignedBuf() { std::free(data); }
  AlignedBuf(const AlignedBuf&) = delete;
  AlignedBuf& operator=(const AlignedBuf&) = delete;
  char* data = nullptr;
};

// ---------------------------------------------------------------------------
// Comparing

inline size_t first_diff(const char* a, const char* b, size_t n) {
  if (std::memcmp(a, b, n) == 0) return n;
  size_t i = 0;
  while (a[i] == b[i]) ++i;
  return i;
}

inline std::string hex_bytes(const char* p, size_t n) {
  std::string s;
  char b[4];
  for (size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", static_cast<unsigned>(static_cast<uint8_t>(p[i])));
    if (i) s += ' ';
    s += b;
  }
  return s;
}

}  // namespace rbdfs::exercise
