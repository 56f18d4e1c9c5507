#include "core/memory_trim.h"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>

namespace rbdfs::core {

namespace {

std::atomic<uint64_t> g_trims{0};

// Resident bytes of this process (0 if /proc cannot tell).
uint64_t resident_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return uint64_t{resident} * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

MemoryFigures memory_figures() {
  const struct mallinfo2 mi = ::mallinfo2();
  return {resident_bytes(), uint64_t{mi.uordblks} + uint64_t{mi.hblkhd},
          g_trims.load(std::memory_order_relaxed)};
}

MemoryTrimmer::MemoryTrimmer(TrimPolicy::Limits limits, std::chrono::milliseconds tick,
                             std::function<uint64_t()> requests_started)
    : m_policy(limits),
      m_tick(tick),
      m_requests_started(std::move(requests_started)),
      m_thread([this] { run(); }) {}

MemoryTrimmer::~MemoryTrimmer() {
  {
    std::lock_guard<std::mutex> l(m_mu);
    m_stop = true;
  }
  m_cv.notify_all();
  m_thread.join();
}

void MemoryTrimmer::run() {
  std::unique_lock<std::mutex> l(m_mu);
  while (!m_cv.wait_for(l, m_tick, [this] { return m_stop; })) {
    l.unlock();
    const uint64_t rss = resident_bytes();
    if (m_policy.tick(rss, m_requests_started())) {
      const auto t0 = std::chrono::steady_clock::now();
      ::malloc_trim(0);
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - t0)
                          .count();
      const uint64_t left = resident_bytes();
      m_policy.trimmed(left);
      spdlog::debug("memory: trimmed at {} MiB resident, left {} MiB ({} us)", rss >> 20,
                    left >> 20, us);
      g_trims.fetch_add(1, std::memory_order_relaxed);
    }
    l.lock();
  }
}

}  // namespace rbdfs::core
