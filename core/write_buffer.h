// WriteBuffer: the bytes of one write, owned, handed to the core without a
// copy. The FUSE layer reads a write's data straight into one (from the
// splice pipe); the core hands the memory to librados, which frees it once
// the last object request that shares it is done.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <utility>

namespace rbdfs::core {

class WriteBuffer {
 public:
  WriteBuffer() = default;
  // Empty (data() == nullptr) when memory is short.
  static WriteBuffer allocate(size_t len) {
    WriteBuffer b;
    b.m_data = static_cast<char*>(std::malloc(len ? len : 1));
    b.m_size = b.m_data ? len : 0;
    return b;
  }
  WriteBuffer(const WriteBuffer&) = delete;
  WriteBuffer& operator=(const WriteBuffer&) = delete;
  WriteBuffer(WriteBuffer&& o) noexcept
      : m_data(std::exchange(o.m_data, nullptr)), m_size(std::exchange(o.m_size, 0)) {}
  WriteBuffer& operator=(WriteBuffer&& o) noexcept {
    std::swap(m_data, o.m_data);
    std::swap(m_size, o.m_size);
    return *this;
  }
  ~WriteBuffer() { std::free(m_data); }

  char* data() { return m_data; }
  const char* data() const { return m_data; }
  size_t size() const { return m_size; }
  // Gives up the memory (malloc'd) to the caller.
  char* release() {
    m_size = 0;
    return std::exchange(m_data, nullptr);
  }

 private:
  char* m_data = nullptr;
  size_t m_size = 0;
};

}  // namespace rbdfs::core
