#include "core/notify_message.h"

#include <cerrno>

#include "core/encoding.h"

namespace rbdfs::notify {

using core::Decoder;
using core::Encoder;
using core::Errno;

namespace {

std::string message(uint32_t op, const ClientId* client, const bool* force) {
  Encoder e;
  size_t t = e.start_struct(7, 1);
  e.u32(op);
  if (client) {
    e.u64(client->gid);
    e.u64(client->handle);
  }
  if (force) e.u8(*force ? 1 : 0);
  e.end_struct(t);
  return std::move(e).bytes();
}

}  // namespace

std::string enc_lock_message(uint32_t op, const ClientId& client) {
  return message(op, &client, nullptr);
}

std::string enc_request_lock(const ClientId& client, bool force) {
  return message(REQUEST_LOCK, &client, &force);
}

std::string enc_header_update() { return message(HEADER_UPDATE, nullptr, nullptr); }

core::Result<Message> dec_message(std::string_view in) {
  Message m;
  if (in.empty()) return m;  // legacy header update
  Decoder d(in);
  uint8_t v = 0, compat = 0;
  Decoder b = d.start_struct(&v, &compat);
  m.version = v;
  m.op = b.u32();
  if (!b.ok() || !d.ok()) return Errno(EIO);
  switch (m.op) {
    case ACQUIRED_LOCK:
    case RELEASED_LOCK:
    case REQUEST_LOCK:
      if (v >= 2) {
        m.client.gid = b.u64();
        m.client.handle = b.u64();
      }
      if (m.op == REQUEST_LOCK && v >= 3) m.force = b.u8() != 0;
      break;
    case FLATTEN:
    case REBUILD_OBJECT_MAP:
    case MIGRATE:
    case QUIESCE:
    case UNQUIESCE:
    case SPARSIFY:
      m.async_client.gid = b.u64();
      m.async_client.handle = b.u64();
      m.async_id = b.u64();
      break;
    default:
      break;  // payload not needed: skipped with the struct
  }
  if (!b.ok()) return Errno(EIO);
  return m;
}

std::string enc_response(int32_t result) {
  Encoder e;
  size_t t = e.start_struct(1, 1);
  e.u32(static_cast<uint32_t>(result));
  e.end_struct(t);
  return std::move(e).bytes();
}

core::Result<int32_t> dec_response(std::string_view in) {
  Decoder d(in);
  uint8_t v = 0, compat = 0;
  Decoder b = d.start_struct(&v, &compat);
  auto r = static_cast<int32_t>(b.u32());
  if (!b.ok() || !d.ok()) return Errno(EIO);
  return r;
}

core::Result<NotifyReply> dec_notify_reply(std::string_view in) {
  Decoder d(in);
  NotifyReply out;
  uint32_t n = d.u32();
  if (!d.ok() || n > d.remaining() / 20) return Errno(EIO);
  for (uint32_t i = 0; i < n; ++i) {
    Ack a;
    a.gid = d.u64();
    a.cookie = d.u64();
    a.payload = d.str();
    if (!d.ok()) return Errno(EIO);
    out.acks.push_back(std::move(a));
  }
  uint32_t m = d.u32();
  if (!d.ok() || m > d.remaining() / 16) return Errno(EIO);
  for (uint32_t i = 0; i < m; ++i) {
    uint64_t gid = d.u64();
    uint64_t cookie = d.u64();
    out.missed.emplace_back(gid, cookie);
  }
  if (!d.ok()) return Errno(EIO);
  return out;
}

int lock_owner_result(const NotifyReply& reply) {
  const Ack* owner = nullptr;
  for (const Ack& a : reply.acks) {
    if (a.payload.empty()) continue;
    if (owner) return EINVAL;  // duplicate lock owners
    owner = &a;
  }
  if (!owner) return ETIMEDOUT;
  auto r = dec_response(owner->payload);
  if (!r.ok()) return EIO;
  return *r < 0 ? -*r : 0;
}

}  // namespace rbdfs::notify
