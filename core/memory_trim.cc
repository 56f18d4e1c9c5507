#include "core/memory_trim.h"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>

// gperftools' tcmalloc, when the binary links it (fuse/CMakeLists.txt):
// weak, so that the core links without it (tests, tools, sanitizer builds)
// and finds it when it is there.
extern "C" {
int MallocExtension_GetNumericProperty(const char* property, size_t* value) __attribute__((weak));
int MallocExtension_SetNumericProperty(const char* property, size_t value) __attribute__((weak));
void MallocExtension_ReleaseFreeMemory() __attribute__((weak));
}

namespace rbdfs::core {

namespace {

std::atomic<uint64_t> g_trims{0};

bool tcmalloc_present() {
  return MallocExtension_GetNumericProperty != nullptr &&
         MallocExtension_ReleaseFreeMemory != nullptr;
}

// Bytes the allocator has handed out and not had back.
uint64_t heap_in_use() {
  if (tcmalloc_present()) {
    size_t v = 0;
    if (MallocExtension_GetNumericProperty("generic.current_allocated_bytes", &v) == 0) v = 0;
    return v;
  }
  const struct mallinfo2 mi = ::mallinfo2();  // arenas and mapped chunks
  return uint64_t{mi.uordblks} + uint64_t{mi.hblkhd};
}

// Hands the allocator's free pages back to the kernel.
void release_free_memory() {
  if (tcmalloc_present())
    MallocExtension_ReleaseFreeMemory();
  else
    ::malloc_trim(0);
}

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

void cap_thread_caches(uint64_t bytes) {
  if (tcmalloc_present() && MallocExtension_SetNumericProperty != nullptr &&
      MallocExtension_SetNumericProperty("tcmalloc.max_total_thread_cache_bytes", bytes) == 0)
    spdlog::debug("memory: tcmalloc did not take a thread cache cap of {} bytes", bytes);
}

const char* allocator_name() { return tcmalloc_present() ? "tcmalloc" : "glibc"; }

MemoryFigures memory_figures() {
  return {resident_bytes(), heap_in_use(), g_trims.load(std::memory_order_relaxed)};
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
      release_free_memory();
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
