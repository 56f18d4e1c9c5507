// Memory trimming: giving back what glibc keeps after a burst of I/O.
//
// glibc keeps the memory threads free in its arenas. The big frees here are
// librados' 4 MiB read replies and the copies of acknowledged writes, and
// glibc's mmap threshold moves up past 4 MiB after the first such free, so
// they stay in the arenas: a mount that had read 4 MiB at a time sat at
// 150-210 MiB resident with 40 MiB in use (measured, README). A fixed
// threshold is not the answer (each reply buffer is then mapped and faulted
// in anew: a third of 4M read throughput lost), so a thread of the daemon
// asks glibc to hand the free pages back (malloc_trim) at three moments:
//
//   - once the data path has been idle for `idle_ticks` ticks (no object
//     request started), if RSS is above `idle_above`;
//   - under load, when RSS passes `busy_above`: fragmentation then costs
//     more than refaulting the pages does;
//   - and every `every_ticks` ticks whatever the load, if RSS is above
//     `idle_above`: light but steady I/O (a request every second) is never
//     idle for long enough, and would otherwise keep a burst's leftovers.
//
// Each time only once RSS has grown `regrowth` past what the last trim
// left (a new idle spell forgets that), so that memory in use (a larger
// --writearound, caches of many images) is not walked again every tick.
//
//   tick --requests started--> BUSY: limit busy_above
//     \--none for idle_ticks--> IDLE: limit idle_above (`left` forgotten
//                                     as the spell starts)
//   every_ticks since the last trim: limit idle_above
//   trim if rss > limit and rss > left + regrowth
//
// TrimPolicy is the decision alone (pure, unit-tested); MemoryTrimmer is
// the thread that reads /proc/self/statm and calls malloc_trim.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace rbdfs::core {

class TrimPolicy {
 public:
  struct Limits {
    uint64_t idle_above;   // bytes of RSS worth a trim once idle
    uint64_t busy_above;   // bytes of RSS worth a trim under load
    uint64_t regrowth;     // bytes RSS must regain after a trim for another
    unsigned idle_ticks;   // ticks without a request that make an idle spell
    unsigned every_ticks;  // ticks after which the idle limit holds anyway
  };
  explicit TrimPolicy(Limits l) : m_limits(l) {}

  // One tick: RSS now and the count of object requests started so far.
  // True: trim now (and say what it left with trimmed()).
  bool tick(uint64_t rss, uint64_t requests_started) {
    uint64_t above = m_limits.busy_above;
    if (m_seen && requests_started == m_requests) {
      ++m_quiet_ticks;
      if (m_quiet_ticks == m_limits.idle_ticks) m_left = 0;  // a new idle spell
      if (m_quiet_ticks >= m_limits.idle_ticks) above = m_limits.idle_above;
    } else {
      m_seen = true;
      m_requests = requests_started;
      m_quiet_ticks = 0;
    }
    if (++m_ticks_since_trim >= m_limits.every_ticks) above = m_limits.idle_above;
    return rss > above && rss > m_left + m_limits.regrowth;
  }
  void trimmed(uint64_t rss_after) {
    m_left = rss_after;
    m_ticks_since_trim = 0;
  }

 private:
  Limits m_limits;
  bool m_seen = false;
  uint64_t m_requests = 0;
  unsigned m_quiet_ticks = 0;
  unsigned m_ticks_since_trim = 0;
  uint64_t m_left = 0;  // RSS the last trim left
};

// The daemon's memory as the mount's root shows it (user.rbdfs.memory):
// resident bytes, bytes malloc has handed out and not had back (mallinfo2:
// arenas and mapped chunks), and the trims so far, process-wide.
struct MemoryFigures {
  uint64_t resident;
  uint64_t heap_in_use;
  uint64_t trims;
};
MemoryFigures memory_figures();

class MemoryTrimmer {
 public:
  // `requests_started`: the data path's count of object requests started
  // (called from the trimmer's thread).
  MemoryTrimmer(TrimPolicy::Limits limits, std::chrono::milliseconds tick,
                std::function<uint64_t()> requests_started);
  ~MemoryTrimmer();  // stops and joins the thread
  MemoryTrimmer(const MemoryTrimmer&) = delete;
  MemoryTrimmer& operator=(const MemoryTrimmer&) = delete;

 private:
  void run();

  TrimPolicy m_policy;  // the thread's alone
  std::chrono::milliseconds m_tick;
  std::function<uint64_t()> m_requests_started;
  std::mutex m_mu;
  std::condition_variable m_cv;
  bool m_stop = false;   // GUARDED_BY(m_mu)
  std::thread m_thread;  // last: starts once the rest is set
};

}  // namespace rbdfs::core
