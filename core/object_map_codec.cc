#include "core/object_map_codec.h"

#include <cerrno>
#include <cstdio>

#include "core/encoding.h"

namespace rbdfs::object_map {

using core::Decoder;
using core::Encoder;
using core::Errno;

std::string map_object(const std::string& image_id, std::optional<uint64_t> snap_id) {
  std::string name = "rbd_object_map." + image_id;
  if (snap_id) {
    char buf[24];
    std::snprintf(buf, sizeof buf, ".%016llx", static_cast<unsigned long long>(*snap_id));
    name += buf;
  }
  return name;
}

Map::Map(uint64_t n, State fill) { resize(n, fill); }

State Map::get(uint64_t i) const {
  if (i >= m_n) return NONEXISTENT;
  unsigned shift = (3 - static_cast<unsigned>(i & 3)) * 2;
  return static_cast<State>((m_bits[i >> 2] >> shift) & 3);
}

void Map::set(uint64_t i, State s) {
  if (i >= m_n) return;
  unsigned shift = (3 - static_cast<unsigned>(i & 3)) * 2;
  uint8_t& b = m_bits[i >> 2];
  b = static_cast<uint8_t>((b & ~(3u << shift)) | ((static_cast<unsigned>(s) & 3u) << shift));
}

void Map::resize(uint64_t n, State fill) {
  uint64_t old = m_n;
  m_bits.resize((n + 3) / 4, 0);
  m_n = n;
  for (uint64_t i = old; i < n; ++i) set(i, fill);
  clear_tail();
}

void Map::clear_tail() {
  for (uint64_t i = m_n; i & 3; ++i) {
    unsigned shift = (3 - static_cast<unsigned>(i & 3)) * 2;
    m_bits[i >> 2] = static_cast<uint8_t>(m_bits[i >> 2] & ~(3u << shift));
  }
}

std::string Map::encode() const {
  Encoder e;
  Encoder header;
  size_t t = header.start_struct(1, 1);
  header.u64(m_n);
  header.end_struct(t);
  const std::string& hb = header.bytes();
  e.u32(static_cast<uint32_t>(hb.size()));
  std::string out = std::move(e).bytes();
  out += hb;
  out.append(reinterpret_cast<const char*>(m_bits.data()), m_bits.size());
  out.append(4, '\0');  // footer_len 0: no CRCs
  return out;
}

core::Result<Map> decode(std::string_view in) {
  Decoder d(in);
  uint32_t header_len = d.u32();
  if (!d.ok() || header_len > d.remaining()) return Errno(EIO);
  Decoder h(in.substr(4, header_len));
  d.skip(header_len);
  uint8_t v = 0, compat = 0;
  Decoder hb = h.start_struct(&v, &compat);
  uint64_t n = hb.u64();
  if (!hb.ok() || !h.ok() || n > MAX_OBJECTS) return Errno(EIO);
  uint64_t nbytes = (n + 3) / 4;
  if (nbytes > d.remaining()) return Errno(EIO);
  Map m(n);
  std::string_view data = in.substr(4 + header_len, nbytes);
  for (uint64_t i = 0; i < nbytes; ++i) m.m_bits[i] = static_cast<uint8_t>(data[i]);
  m.clear_tail();  // the last byte's bits past n are not ours to keep
  d.skip(nbytes);
  uint32_t footer_len = d.u32();
  if (!d.ok() || footer_len > d.remaining()) return Errno(EIO);
  return m;
}

bool update_needed(State cur, State next) {
  if (cur == next) return false;
  if (next == PENDING && cur == NONEXISTENT) return false;
  if (next == NONEXISTENT && cur != PENDING) return false;
  return true;
}

std::string enc_update(uint64_t start, uint64_t end, State state, std::optional<State> current) {
  Encoder e;
  e.u64(start);
  e.u64(end);
  e.u8(state);
  e.u8(current ? 1 : 0);
  if (current) e.u8(*current);
  return std::move(e).bytes();
}

std::string enc_resize(uint64_t n, State fill) {
  Encoder e;
  e.u64(n);
  e.u8(fill);
  return std::move(e).bytes();
}

}  // namespace rbdfs::object_map
