#include "core/write_tracker.h"

#include <spdlog/spdlog.h>

namespace rbdfs::core {

uint64_t WriteTracker::begin() {
  std::lock_guard<std::mutex> l(m_mu);
  uint64_t seq = m_next_seq++;
  m_pending.insert(seq);
  return seq;
}

std::vector<WriteTracker::Callback> WriteTracker::end(uint64_t seq, int deferred_error) {
  if (deferred_error)
    spdlog::error(
        "image {}: a write acknowledged early failed ({}, errno {}): the next fsync or close of "
        "each descriptor that wrote reports it",
        m_what, Errno(deferred_error).message(), deferred_error);
  std::vector<Callback> ready;
  std::lock_guard<std::mutex> l(m_mu);
  m_pending.erase(seq);
  if (deferred_error) {
    ++m_error_seq;
    m_last_error = deferred_error;
  }
  auto end = m_drainers.begin();
  while (end != m_drainers.end() && (m_pending.empty() || end->first < *m_pending.begin())) ++end;
  for (auto it = m_drainers.begin(); it != end; ++it) ready.push_back(std::move(it->second));
  m_drainers.erase(m_drainers.begin(), end);
  return ready;
}

void WriteTracker::drain(Callback cb) {
  {
    std::lock_guard<std::mutex> l(m_mu);
    if (!m_pending.empty()) {
      m_drainers.emplace(m_next_seq - 1, std::move(cb));
      return;
    }
  }
  cb({});
}

uint64_t WriteTracker::error_mark() const {
  std::lock_guard<std::mutex> l(m_mu);
  return m_error_seq;
}

Status WriteTracker::check_errors(std::atomic<uint64_t>* cursor, bool advance) const {
  std::lock_guard<std::mutex> l(m_mu);
  uint64_t seen = advance ? cursor->exchange(m_error_seq) : cursor->load();
  if (seen == m_error_seq) return {};
  return Errno(m_last_error);
}

}  // namespace rbdfs::core
