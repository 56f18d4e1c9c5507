// The messages RBD clients exchange through notifies on the image header
// (librbd's WatchNotifyTypes, krbd's rbd_watch_cb): the NotifyMessage a
// notifier sends, the ResponseMessage a lock owner acks with, and the
// reply buffer notify2 returns. Pure (no I/O); part of rbdfs_codec, fuzzed.
//
// References: ../shared/reference/rbd-lock-objectmap-clones.md §2.1-2.4.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace rbdfs::notify {

enum Op : uint32_t {
  ACQUIRED_LOCK = 0,
  RELEASED_LOCK = 1,
  REQUEST_LOCK = 2,
  HEADER_UPDATE = 3,
  ASYNC_PROGRESS = 4,
  ASYNC_COMPLETE = 5,
  FLATTEN = 6,
  RESIZE = 7,
  SNAP_CREATE = 8,
  SNAP_REMOVE = 9,
  REBUILD_OBJECT_MAP = 10,
  SNAP_RENAME = 11,
  SNAP_PROTECT = 12,
  SNAP_UNPROTECT = 13,
  RENAME = 14,
  UPDATE_FEATURES = 15,
  MIGRATE = 16,
  SPARSIFY = 17,
  QUIESCE = 18,
  UNQUIESCE = 19,
  METADATA_UPDATE = 20,
};

// {rados instance id, header watch handle}
struct ClientId {
  uint64_t gid = 0;
  uint64_t handle = 0;
  bool valid() const { return gid != 0; }
  bool operator==(const ClientId&) const = default;
};

struct Message {
  uint32_t op = HEADER_UPDATE;
  uint8_t version = 0;    // of the encoding received (librbd 7, krbd 2)
  ClientId client;        // lock messages (version >= 2)
  bool force = false;     // REQUEST_LOCK (version >= 3)
  ClientId async_client;  // maintenance ops: the AsyncRequestId
  uint64_t async_id = 0;
};

// v7, as librbd sends them.
std::string enc_lock_message(uint32_t op, const ClientId& client);  // ACQUIRED/RELEASED
std::string enc_request_lock(const ClientId& client, bool force = false);
std::string enc_header_update();

// An empty payload is the legacy HEADER_UPDATE. Unknown ops decode with
// their op number (payload skipped). EIO when malformed.
core::Result<Message> dec_message(std::string_view in);

// ResponseMessage: ENCODE_START(1,1){ s32 result }.
std::string enc_response(int32_t result);
core::Result<int32_t> dec_response(std::string_view in);

// What notify2 returns: who acked (with their payloads), who timed out.
struct Ack {
  uint64_t gid = 0;
  uint64_t cookie = 0;
  std::string payload;
};
struct NotifyReply {
  std::vector<Ack> acks;
  std::vector<std::pair<uint64_t, uint64_t>> missed;  // gid, cookie
};
core::Result<NotifyReply> dec_notify_reply(std::string_view in);

// A lock-owner request's result, as librbd's NotifyLockOwner reads the
// reply: one non-empty ack -> its ResponseMessage; none -> ETIMEDOUT;
// several -> EINVAL (duplicate lock owners). Positive errno, 0 = success.
int lock_owner_result(const NotifyReply& reply);

}  // namespace rbdfs::notify
