// Process-wide I/O counters: what the data path sent to RADOS (the mount
// shows them in user.rbdfs.io on its root). Relaxed atomics: figures to
// watch, not to synchronise on.
#pragma once

#include <atomic>
#include <cstdint>

namespace rbdfs::core {

struct IoCounters {
  // object requests started (each takes a slot): the memory trimmer's
  // pulse (core/memory_trim.h), not shown in user.rbdfs.io
  std::atomic<uint64_t> object_requests{0};
  std::atomic<uint64_t> object_reads{0};     // RADOS reads of image data objects
  std::atomic<uint64_t> gathered_reads{0};   // reads that answered several pieces
  std::atomic<uint64_t> gathered_pieces{0};  // the pieces they answered
};

inline IoCounters& io_counters() {
  static IoCounters c;
  return c;
}

}  // namespace rbdfs::core
