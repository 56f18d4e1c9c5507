// The kernel's FUSE-over-io_uring ABI (include/uapi/linux/fuse.h, protocol
// 7.42, Linux 6.14+; Debian 12's headers predate it) and the pure steps of
// fuse/uring.cc: offering the ring in the INIT reply, sizing the entries,
// laying a delivered request out as libfuse expects it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rbdfs::ll::uring {

constexpr uint32_t OPCODE_READ = 15;
constexpr uint32_t OPCODE_WRITE = 16;
constexpr uint32_t CMD_REGISTER = 1;
constexpr uint32_t CMD_COMMIT_AND_FETCH = 2;

struct InHeader {  // fuse_in_header
  uint32_t len, opcode;
  uint64_t unique, nodeid;
  uint32_t uid, gid, pid;
  uint16_t total_extlen, padding;
};
static_assert(sizeof(InHeader) == 40);

struct OutHeader {  // fuse_out_header
  uint32_t len;
  int32_t error;
  uint64_t unique;
};
static_assert(sizeof(OutHeader) == 16);

// One entry's header buffer (fuse_uring_req_header). On delivery in_out
// holds the fuse_in_header, op_in the opcode's own header (in_args[0]),
// and the payload buffer the rest; payload_sz says how much. On reply
// in_out holds the fuse_out_header and payload_sz the reply's length.
struct EntInOut {  // fuse_uring_ent_in_out
  uint64_t flags, commit_id;
  uint32_t payload_sz, padding;
  uint64_t reserved;
};
struct ReqHeader {  // fuse_uring_req_header
  char in_out[128];
  char op_in[128];
  EntInOut ent;
};
static_assert(sizeof(ReqHeader) == 288);

struct CmdReq {  // fuse_uring_cmd_req: the command area of a 128-byte SQE
  uint64_t flags, commit_id;
  uint16_t qid;
  uint8_t padding[6];
};
static_assert(sizeof(CmdReq) == 24);

// The kernel makes one queue per possible CPU (num_possible_cpus()): the
// count from the text of /sys/devices/system/cpu/possible ("0-1",
// "0-3,8-11"); 0 when malformed.
unsigned queues_from_cpu_list(const std::string& list);

// Rewrites libfuse's fuse_init_out (the INIT reply after its header) so
// that it offers the ring (FUSE_INIT_EXT, FUSE_OVER_IO_URING) and sets
// *payload to the payload buffer the kernel will require of every entry:
// max(8 KiB, max_write, max_pages * page). False (reply untouched) when
// the reply is not one this code knows.
bool offer_ring(std::vector<char>* init_out, size_t page, size_t* payload);

// Entries per queue: `want`, fewer when the payload buffers of all queues
// would pass `budget` bytes, never under 2 (one request of a CPU waiting
// on RADOS must not hold up the next).
unsigned entries_per_queue(unsigned want, unsigned queues, size_t payload, size_t budget);

// A delivered request as libfuse reads it from /dev/fuse: header, opcode
// header, payload in one piece. The payload stays where the kernel put it;
// the headers (op_len bytes of op_in) go just before it. False when the
// lengths cannot be (the request is then refused).
bool request_layout(const InHeader& in, uint32_t payload_sz, size_t* op_len);

}  // namespace rbdfs::ll::uring
