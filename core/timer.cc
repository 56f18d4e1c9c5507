#include "core/timer.h"

namespace rbdfs::core {

Timer::Timer() : m_thread([this] { run(); }) {}

Timer::~Timer() {
  {
    std::lock_guard<std::mutex> l(m_mu);
    m_stop = true;
  }
  m_cv.notify_all();
  // A callback may drop the last reference to our owner.
  if (m_thread.get_id() == std::this_thread::get_id())
    m_thread.detach();
  else
    m_thread.join();
}

void Timer::schedule(Clock::time_point when, std::function<void()> fn) {
  bool first;
  {
    std::lock_guard<std::mutex> l(m_mu);
    first = m_due.empty() || when < m_due.begin()->first;
    m_due.emplace(when, std::move(fn));
  }
  if (first) m_cv.notify_all();
}

void Timer::run() {
  std::unique_lock<std::mutex> l(m_mu);
  while (!m_stop) {
    if (m_due.empty()) {
      m_cv.wait(l);
      continue;
    }
    auto first = m_due.begin();
    if (Clock::now() < first->first) {
      m_cv.wait_until(l, first->first);
      continue;
    }
    std::function<void()> fn = std::move(first->second);
    m_due.erase(first);
    l.unlock();
    fn();
    l.lock();
  }
}

}  // namespace rbdfs::core
