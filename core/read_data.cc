#include "core/read_data.h"

#include "core/rados.h"

#include <algorithm>
#include <cstring>

namespace rbdfs::core {

ReadData::ReadData() = default;
ReadData::~ReadData() = default;
ReadData::ReadData(ReadData&&) noexcept = default;
ReadData& ReadData::operator=(ReadData&&) noexcept = default;

namespace {
// Holes of a read point here; never written (.bss, so it costs no memory).
char g_zeros[1 << 20];
}  // namespace

void ReadData::index() {
  m_pieces.clear();
  for (const Part& part : m_parts) {
    // The reply holds the object's bytes from ext.offset on, possibly
    // fewer than asked for (a short object); ext.buffer says where each
    // run of them goes, in object order.
    auto seg = part.bl.buffers().begin();
    auto seg_end = part.bl.buffers().end();
    uint64_t seg_pos = 0;  // bytes of *seg already used
    for (const BufferExtent& b : part.ext.buffer) {
      uint64_t want = b.length, at = b.buffer_offset;
      while (want > 0 && seg != seg_end) {
        uint64_t avail = seg->length() - seg_pos;
        if (avail == 0) {
          ++seg;
          seg_pos = 0;
          continue;
        }
        uint64_t n = std::min(want, avail);
        m_pieces.push_back(Piece{at, seg->c_str() + seg_pos, n});
        seg_pos += n;
        at += n;
        want -= n;
      }
      if (seg == seg_end) break;
    }
  }
  // Plain layouts already come in order; fancy striping interleaves.
  if (!std::is_sorted(m_pieces.begin(), m_pieces.end(), [](const Piece& a, const Piece& b) {
        return a.buffer_offset < b.buffer_offset;
      }))
    std::sort(m_pieces.begin(), m_pieces.end(),
              [](const Piece& a, const Piece& b) { return a.buffer_offset < b.buffer_offset; });
}

std::vector<iovec> ReadData::iov() const {
  std::vector<iovec> out;
  out.reserve(m_pieces.size() + 2);
  auto zeros = [&out](uint64_t n) {
    while (n > 0) {
      uint64_t k = std::min<uint64_t>(n, sizeof(g_zeros));
      out.push_back(iovec{g_zeros, k});
      n -= k;
    }
  };
  uint64_t pos = 0;
  for (const Piece& p : m_pieces) {
    zeros(p.buffer_offset - pos);
    out.push_back(iovec{const_cast<char*>(p.data), p.length});
    pos = p.buffer_offset + p.length;
  }
  zeros(m_length - pos);
  return out;
}

void ReadData::copy_to(char* dst) const {
  for (const iovec& v : iov()) {
    std::memcpy(dst, v.iov_base, v.iov_len);
    dst += v.iov_len;
  }
}

void ReadData::copy_range(uint64_t off, uint64_t len, char* dst) const {
  std::memset(dst, 0, len);
  const uint64_t end = off + len;
  auto first = std::upper_bound(m_pieces.begin(), m_pieces.end(), off,
                                [](uint64_t o, const Piece& p) { return o < p.buffer_offset; });
  if (first != m_pieces.begin()) --first;  // may start before `off`
  for (auto p = first; p != m_pieces.end() && p->buffer_offset < end; ++p) {
    uint64_t from = std::max(off, p->buffer_offset);
    uint64_t to = std::min(end, p->buffer_offset + p->length);
    if (from < to) std::memcpy(dst + (from - off), p->data + (from - p->buffer_offset), to - from);
  }
}

ReadData ReadData::window(std::shared_ptr<const ReadData> whole, uint64_t off, uint64_t len) {
  ReadData w;
  off = std::min(off, whole->m_length);
  len = std::min(len, whole->m_length - off);
  w.m_length = len;
  const uint64_t end = off + len;
  for (const Piece& p : whole->m_pieces) {
    uint64_t from = std::max(off, p.buffer_offset);
    uint64_t to = std::min(end, p.buffer_offset + p.length);
    if (from < to)
      w.m_pieces.push_back(Piece{from - off, p.data + (from - p.buffer_offset), to - from});
  }
  w.m_whole = std::move(whole);
  return w;
}

std::string ReadData::to_string() const {
  std::string s(m_length, '\0');
  copy_to(s.data());
  return s;
}

}  // namespace rbdfs::core
