#include "fuse/work_queue.h"

namespace rbdfs::ll {

WorkQueue::WorkQueue(unsigned threads) {
  for (unsigned i = 0; i < threads; ++i)
    m_threads.emplace_back([this] {
      for (;;) {
        std::function<void()> fn;
        {
          std::unique_lock<std::mutex> l(m_mu);
          m_cv.wait(l, [this] { return m_stop || !m_q.empty(); });
          if (m_q.empty()) return;  // stopping and drained
          fn = std::move(m_q.front());
          m_q.pop_front();
          ++m_running;
        }
        fn();
        fn = nullptr;  // what it held goes before drain() can return
        std::lock_guard<std::mutex> l(m_mu);
        if (--m_running == 0 && m_q.empty()) m_idle.notify_all();
      }
    });
}

WorkQueue::~WorkQueue() {
  {
    std::lock_guard<std::mutex> l(m_mu);
    m_stop = true;
  }
  m_cv.notify_all();
  for (auto& t : m_threads) t.join();
}

void WorkQueue::drain() {
  std::unique_lock<std::mutex> l(m_mu);
  m_idle.wait(l, [this] { return m_running == 0 && m_q.empty(); });
}

void WorkQueue::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(m_mu);
    m_q.push_back(std::move(fn));
  }
  m_cv.notify_one();
}

}  // namespace rbdfs::ll
