// Timer: runs callbacks at (or soon after) their deadlines on one thread
// of its own. Callbacks must not block for long (they delay the others)
// and must hold what they need weakly: a timer dropped before the
// deadline never runs them.
//
// Thread-safe; m_mu is never held while a callback runs.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace rbdfs::core {

class Timer {
 public:
  using Clock = std::chrono::steady_clock;
  Timer();
  // Joins the thread; callbacks not yet due are dropped.
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void schedule(Clock::time_point when, std::function<void()> fn);

 private:
  void run();
  std::mutex m_mu;
  std::condition_variable m_cv;
  std::multimap<Clock::time_point, std::function<void()>> m_due;  // GUARDED_BY(m_mu)
  bool m_stop = false;                                            // GUARDED_BY(m_mu)
  std::thread m_thread;
};

}  // namespace rbdfs::core
