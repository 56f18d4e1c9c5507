// Timer: runs callbacks at (or soon after) their deadlines on one thread
// of its own. Callbacks must not block for long (they delay the others)
// and must hold what they need weakly: a timer dropped before the
// deadline never runs them. A callback may drop the last reference to the
// timer's owner (the timer is then destroyed on its own thread: the
// thread is detached and ends after that callback).
//
// Thread-safe; the state's mutex is never held while a callback runs (nor
// while one is destroyed).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

namespace rbdfs::core {

class Timer {
 public:
  using Clock = std::chrono::steady_clock;
  Timer();
  // Stops the thread (joins it, unless called on it); callbacks not yet
  // due are dropped.
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void schedule(Clock::time_point when, std::function<void()> fn);

 private:
  // Shared with the thread, so it outlives a Timer destroyed by a callback.
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::multimap<Clock::time_point, std::function<void()>> due;  // GUARDED_BY(mu)
    bool stop = false;                                            // GUARDED_BY(mu)
  };
  static void run(std::shared_ptr<State> s);
  std::shared_ptr<State> m_state;
  std::thread m_thread;
};

}  // namespace rbdfs::core
