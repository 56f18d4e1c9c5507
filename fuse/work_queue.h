#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace rbdfs::ll {

// A few threads for work that must not hold up FUSE workers: fetching the
// headers of a whole directory in parallel (so `ls -l` of thousands of
// images costs a few round trips, not one per image).
class WorkQueue {
 public:
  explicit WorkQueue(unsigned threads);
  ~WorkQueue();
  void post(std::function<void()> fn);
  // Waits until everything posted so far has run.
  void drain();

 private:
  std::mutex m_mu;
  std::condition_variable m_cv;
  std::deque<std::function<void()>> m_q;  // GUARDED_BY(m_mu)
  bool m_stop = false;                    // GUARDED_BY(m_mu)
  unsigned m_running = 0;                 // GUARDED_BY(m_mu)
  std::condition_variable m_idle;
  std::vector<std::thread> m_threads;
};

}  // namespace rbdfs::ll
