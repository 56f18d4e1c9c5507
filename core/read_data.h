// What a read returns: RADOS' reply buffers, never copied.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/striper.h"

namespace rbdfs::core {

// What a read returns: RADOS' reply buffers themselves, never copied; the
// parts of the range that no object covered (absent objects, short objects)
// read as zeros from one shared zero region.
class ReadData {
 public:
  ReadData();
  ~ReadData();
  ReadData(ReadData&&) noexcept;
  ReadData& operator=(ReadData&&) noexcept;
  ReadData(const ReadData&) = delete;
  ReadData& operator=(const ReadData&) = delete;

  uint64_t length() const { return m_length; }
  // The whole range, in order, as iovecs (zeros included) - what
  // fuse_reply_iov and writev take.
  std::vector<iovec> iov() const;
  void copy_to(char* dst) const;
  // Bytes [off, off+len) of the range (inside it), zeros included.
  void copy_range(uint64_t off, uint64_t len, char* dst) const;
  std::string to_string() const;
  // Bytes [off, off+len) of `whole` (as far as it goes) as a ReadData of
  // their own, over the same buffers: they stay while any window does.
  static ReadData window(std::shared_ptr<const ReadData> whole, uint64_t off, uint64_t len);

 private:
  friend struct ImageRequest;
  struct Part;  // an object extent and its reply (core/rados.h)
  struct Piece {
    uint64_t buffer_offset;
    const char* data;
    uint64_t length;
  };
  // Builds m_pieces from m_parts once every reply is in.
  void index();

  uint64_t m_length = 0;
  std::vector<Part> m_parts;                // own the memory m_pieces point into
  std::vector<Piece> m_pieces;              // by buffer_offset, disjoint; gaps are zeros
  std::shared_ptr<const ReadData> m_whole;  // a window's: owns what m_pieces point into
};

}  // namespace rbdfs::core
