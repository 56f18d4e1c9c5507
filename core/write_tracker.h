// WriteTracker: the writes of one image in flight, the waits for them
// (drain), and the errors of writes acknowledged early, kept as the kernel
// keeps writeback errors (errseq): a count and the latest errno; a reader
// of them holds a cursor and sees each error once.
//
// Thread-safe; m_mu is a leaf, never held while a callback runs.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/result.h"

namespace rbdfs::core {

class WriteTracker {
 public:
  using Callback = std::function<void(Status)>;
  explicit WriteTracker(std::string what) : m_what(std::move(what)) {}

  // A write (or a header update that drains must wait for) begins.
  uint64_t begin();
  // Write `seq` is done; `deferred_error` (a positive errno, or 0) is the
  // error of a write that was acknowledged early. Returns the drain
  // callbacks now ready: the caller runs them after dropping its reference
  // to the image.
  std::vector<Callback> end(uint64_t seq, int deferred_error);
  // `cb` runs once every write begun before this call is done (at once
  // when none is), with success: errors are for check_errors().
  void drain(Callback cb);

  uint64_t error_mark() const;
  // The latest error recorded since *cursor, or success; with `advance`,
  // the cursor moves past it (reported once).
  Status check_errors(std::atomic<uint64_t>* cursor, bool advance) const;

 private:
  const std::string m_what;  // for the log line
  mutable std::mutex m_mu;
  uint64_t m_next_seq = 1;                       // GUARDED_BY(m_mu)
  std::set<uint64_t> m_pending;                  // GUARDED_BY(m_mu)
  std::multimap<uint64_t, Callback> m_drainers;  // GUARDED_BY(m_mu): waits for seq <= key
  uint64_t m_error_seq = 0;                      // GUARDED_BY(m_mu)
  int m_last_error = 0;                          // GUARDED_BY(m_mu)
};

}  // namespace rbdfs::core
