// Ceph's wire encoding (src/include/encoding.h), the parts cls "rbd" uses:
// little-endian fixed-width integers, le32-length-prefixed strings, le32-count
// containers, and versioned structs (u8 v, u8 compat, le32 len, payload).
//
// Decoder is bounds-checked with a sticky failure flag: once a read runs past
// the end, every later read returns a zero value and ok() is false. Callers
// decode a whole reply and then check ok() once; a malformed reply can never
// read out of bounds.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace rbdfs::core {

class Encoder {
 public:
  void u8(uint8_t v) { m_out.push_back(static_cast<char>(v)); }
  void u32(uint32_t v) { put_le(v, 4); }
  void u64(uint64_t v) { put_le(v, 8); }
  void i64(int64_t v) { put_le(static_cast<uint64_t>(v), 8); }
  void str(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    m_out.append(s.data(), s.size());
  }
  // utime_t: le32 seconds, le32 nanoseconds
  void utime(uint32_t sec, uint32_t nsec) {
    u32(sec);
    u32(nsec);
  }
  // ENCODE_START(v, compat): returns a token for end_struct().
  size_t start_struct(uint8_t v, uint8_t compat) {
    u8(v);
    u8(compat);
    size_t at = m_out.size();
    u32(0);
    return at;
  }
  void end_struct(size_t token) {
    auto len = static_cast<uint32_t>(m_out.size() - token - 4);
    for (int i = 0; i < 4; ++i)
      m_out[token + static_cast<size_t>(i)] = static_cast<char>((len >> (8 * i)) & 0xff);
  }
  const std::string& bytes() const& { return m_out; }
  std::string bytes() && { return std::move(m_out); }

 private:
  void put_le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) m_out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string m_out;
};

class Decoder {
 public:
  explicit Decoder(std::string_view in) : m_in(in) {}

  bool ok() const { return m_ok; }
  size_t remaining() const { return m_ok ? m_in.size() - m_pos : 0; }
  bool at_end() const { return m_ok && m_pos == m_in.size(); }
  void fail() { m_ok = false; }

  uint8_t u8() { return static_cast<uint8_t>(get_le(1)); }
  uint32_t u32() { return static_cast<uint32_t>(get_le(4)); }
  uint64_t u64() { return get_le(8); }
  int64_t i64() { return static_cast<int64_t>(get_le(8)); }
  std::string str() {
    uint32_t n = u32();
    if (!take(n)) return {};
    return std::string(m_in.substr(m_pos - n, n));
  }
  void skip(size_t n) { take(n); }

  // DECODE_START: reads the struct header and returns a decoder limited to
  // the struct's payload; this decoder moves past the whole struct, so
  // fields appended by newer encoders are skipped.
  Decoder start_struct(uint8_t* v, uint8_t* compat) {
    *v = u8();
    *compat = u8();
    uint32_t len = u32();
    if (!take(len)) return failed();
    return Decoder(m_in.substr(m_pos - len, len));
  }

 private:
  static Decoder failed() {
    Decoder d({});
    d.m_ok = false;
    return d;
  }
  bool take(size_t n) {
    if (!m_ok || n > m_in.size() - m_pos) {
      m_ok = false;
      return false;
    }
    m_pos += n;
    return true;
  }
  uint64_t get_le(int n) {
    if (!take(static_cast<size_t>(n))) return 0;
    uint64_t v = 0;
    for (int i = 0; i < n; ++i)
      v |= static_cast<uint64_t>(
               static_cast<uint8_t>(m_in[m_pos - static_cast<size_t>(n) + static_cast<size_t>(i)]))
           << (8 * i);
    return v;
  }

  std::string_view m_in;
  size_t m_pos = 0;
  bool m_ok = true;
};

}  // namespace rbdfs::core
