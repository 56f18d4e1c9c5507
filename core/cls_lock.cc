#include "core/cls_lock.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/encoding.h"

namespace rbdfs::cls_lock {

using core::Decoder;
using core::Encoder;
using core::Errno;

std::string lock_cookie(uint64_t watch_handle) { return "auto " + std::to_string(watch_handle); }

std::optional<uint64_t> parse_lock_cookie(std::string_view cookie) {
  constexpr std::string_view prefix = "auto ";
  if (cookie.substr(0, prefix.size()) != prefix) return std::nullopt;
  std::string_view digits = cookie.substr(prefix.size());
  if (digits.empty() || digits.size() > 20) return std::nullopt;
  uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t next = v * 10 + static_cast<uint64_t>(c - '0');
    if (next / 10 != v) return std::nullopt;  // overflow
    v = next;
  }
  return v;
}

namespace {

void enc_entity(Encoder* e, const Entity& en) {
  e->u8(en.type);
  e->i64(en.num);
}

// entity_addr_t, either form, as the legacy string "IP:port/nonce".
std::string dec_addr(Decoder* d) {
  uint8_t marker = d->u8();
  if (!d->ok()) return {};
  uint32_t nonce = 0;
  uint16_t family = 0;
  std::string sa;  // sa_data: port (big-endian) then the address
  if (marker == 1) {
    uint8_t v = 0, compat = 0;
    Decoder b = d->start_struct(&v, &compat);
    b.u32();  // type
    nonce = b.u32();
    uint32_t elen = b.u32();
    if (elen > b.remaining()) {  // never read (or allocate) past the reply
      b.fail();
    } else if (elen >= 2) {
      uint8_t lo = b.u8();
      uint8_t hi = b.u8();
      family = static_cast<uint16_t>(lo | (hi << 8));  // LE
      for (uint32_t i = 2; i < elen; ++i) sa.push_back(static_cast<char>(b.u8()));
    } else if (elen) {
      b.fail();
    }
    if (!b.ok()) d->fail();
  } else if (marker == 0) {
    d->u8(), d->u8(), d->u8();  // the rest of the u32 0
    nonce = d->u32();
    // sockaddr_storage, 128 bytes, ss_family in network order
    uint8_t hi = d->u8(), lo = d->u8();
    family = static_cast<uint16_t>((hi << 8) | lo);
    for (int i = 2; i < 128; ++i) sa.push_back(static_cast<char>(d->u8()));
  } else {
    d->fail();
  }
  if (!d->ok()) return {};
  char ip[INET6_ADDRSTRLEN] = "";
  uint16_t port = 0;
  if (family == AF_INET && sa.size() >= 6) {
    port = static_cast<uint16_t>((static_cast<uint8_t>(sa[0]) << 8) | static_cast<uint8_t>(sa[1]));
    inet_ntop(AF_INET, sa.data() + 2, ip, sizeof ip);
  } else if (family == AF_INET6 && sa.size() >= 22) {
    port = static_cast<uint16_t>((static_cast<uint8_t>(sa[0]) << 8) | static_cast<uint8_t>(sa[1]));
    inet_ntop(AF_INET6, sa.data() + 6, ip, sizeof ip);  // after flowinfo
    // std::string first, not `"[" + std::string(ip)`: GCC 12 at -O3 warns of
    // a memcpy overlap there that cannot happen (-Wrestrict, GCC bug 105651)
    return std::string("[") + ip + "]:" + std::to_string(port) + "/" + std::to_string(nonce);
  } else {
    return "-/" + std::to_string(nonce);
  }
  return std::string(ip) + ":" + std::to_string(port) + "/" + std::to_string(nonce);
}

}  // namespace

namespace {

// Every input is ENCODE_START(1,1){ ... }: `body` writes the fields.
template <typename Body>
std::string input(Body body) {
  Encoder e;
  size_t t = e.start_struct(1, 1);
  body(e);
  e.end_struct(t);
  return std::move(e).bytes();
}

// name, type, cookie, tag: how lock, assert_locked and set_cookie begin
void lock_head(Encoder& e, std::string_view name, uint8_t type, std::string_view cookie,
               std::string_view tag) {
  e.str(name);
  e.u8(type);
  e.str(cookie);
  e.str(tag);
}

}  // namespace

std::string enc_lock(std::string_view name, uint8_t type, std::string_view cookie,
                     std::string_view tag, std::string_view description, uint8_t flags) {
  return input([&](Encoder& e) {
    lock_head(e, name, type, cookie, tag);
    e.str(description);
    e.utime(0, 0);  // duration: never expires
    e.u8(flags);
  });
}

std::string enc_unlock(std::string_view name, std::string_view cookie) {
  return input([&](Encoder& e) {
    e.str(name);
    e.str(cookie);
  });
}

std::string enc_break_lock(std::string_view name, const Entity& locker, std::string_view cookie) {
  return input([&](Encoder& e) {
    e.str(name);
    enc_entity(&e, locker);
    e.str(cookie);
  });
}

std::string enc_get_info(std::string_view name) {
  return input([&](Encoder& e) { e.str(name); });
}

std::string enc_assert_locked(std::string_view name, uint8_t type, std::string_view cookie,
                              std::string_view tag) {
  return input([&](Encoder& e) { lock_head(e, name, type, cookie, tag); });
}

std::string enc_set_cookie(std::string_view name, uint8_t type, std::string_view cookie,
                           std::string_view tag, std::string_view new_cookie) {
  return input([&](Encoder& e) {
    lock_head(e, name, type, cookie, tag);
    e.str(new_cookie);
  });
}

core::Result<LockInfo> dec_lock_info(std::string_view in) {
  Decoder d(in);
  LockInfo info;
  uint8_t v = 0, compat = 0;
  Decoder b = d.start_struct(&v, &compat);
  uint32_t n = b.u32();
  if (!b.ok() || n > b.remaining()) return Errno(EIO);
  for (uint32_t i = 0; i < n && b.ok(); ++i) {
    Locker l;
    uint8_t iv = 0, ic = 0;
    Decoder id = b.start_struct(&iv, &ic);
    l.entity.type = id.u8();
    l.entity.num = id.i64();
    l.cookie = id.str();
    uint8_t fv = 0, fc = 0;
    Decoder inf = b.start_struct(&fv, &fc);
    inf.u32(), inf.u32();  // expiration
    l.address = dec_addr(&inf);
    l.description = inf.str();
    if (!id.ok() || !inf.ok()) return Errno(EIO);
    info.lockers.push_back(std::move(l));
  }
  info.type = b.u8();
  info.tag = b.str();
  if (!b.ok() || !d.ok()) return Errno(EIO);
  return info;
}

}  // namespace rbdfs::cls_lock
