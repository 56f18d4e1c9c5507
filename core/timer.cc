#include "core/timer.h"

#include <pthread.h>

namespace rbdfs::core {

Timer::Timer() : m_state(std::make_shared<State>()), m_thread(run, m_state) {}

Timer::~Timer() {
  decltype(State::due) dropped;  // destroyed below, without the mutex
  {
    std::lock_guard<std::mutex> l(m_state->mu);
    m_state->stop = true;
    dropped.swap(m_state->due);
  }
  m_state->cv.notify_all();
  if (m_thread.get_id() == std::this_thread::get_id())
    m_thread.detach();  // a callback dropped our owner: run() ends after it
  else
    m_thread.join();
}

void Timer::schedule(Clock::time_point when, std::function<void()> fn) {
  bool first;
  {
    std::lock_guard<std::mutex> l(m_state->mu);
    if (m_state->stop) return;
    first = m_state->due.empty() || when < m_state->due.begin()->first;
    m_state->due.emplace(when, std::move(fn));
  }
  if (first) m_state->cv.notify_all();
}

void Timer::run(std::shared_ptr<State> s) {
  pthread_setname_np(pthread_self(), "rbdfs-timer");  // see ImageImpl's deleter
  std::unique_lock<std::mutex> l(s->mu);
  while (!s->stop) {
    if (s->due.empty()) {
      s->cv.wait(l);
      continue;
    }
    auto first = s->due.begin();
    if (Clock::now() < first->first) {
      s->cv.wait_until(l, first->first);
      continue;
    }
    std::function<void()> fn = std::move(first->second);
    s->due.erase(first);
    l.unlock();
    fn();
    fn = nullptr;  // what it held goes now, without the mutex (it may end the Timer)
    l.lock();
  }
}

}  // namespace rbdfs::core
