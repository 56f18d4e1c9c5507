// FUSE over io_uring (Linux 6.14+, `fuse.enable_uring=1`): requests reach
// rbdfs through ring entries instead of read(2) on /dev/fuse, and replies
// go back as the next fetch's commit. libfuse 3.14 knows nothing of it, so
// this unit sits under libfuse as its custom I/O:
//
//   * writev: the first reply of the session is INIT's; it is sent with
//     FUSE_OVER_IO_URING set, then every CPU's queue is given its entries.
//     A reply whose unique belongs to a ring entry is copied into that
//     entry and committed; any other goes to /dev/fuse as before.
//   * the ring thread takes delivered requests and hands each to libfuse
//     (fuse_session_process_buf) as if read from /dev/fuse: reads and
//     writes on the ring thread (their handlers only start RADOS I/O),
//     anything else on a few threads of its own (it may wait on RADOS).
//
// /dev/fuse stays in use for what the kernel keeps there (FORGET,
// INTERRUPT, notifications) and for noticing the unmount, so libfuse's
// loop runs as before.
//
// One ring entry:
//
//   REGISTER --> AVAILABLE --(CQE 0: a request)--> IN_USE --(reply:
//        COMMIT_AND_FETCH)--> AVAILABLE ...
//   AVAILABLE --(CQE < 0: unmount, abort)--> DEAD
//
// The ring's submission queue is shared by every replying thread under
// one mutex (held for the prep and the io_uring_enter, never across
// RADOS or libfuse); completions are reaped by the ring thread alone.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

struct fuse_session;

namespace rbdfs::ll {

class FuseRing {
 public:
  // Installs the custom I/O on a mounted session, before its loop starts;
  // the ring is offered in the INIT reply. Null (the log says why) when
  // this kernel cannot offer it: the session then stays on /dev/fuse.
  static std::unique_ptr<FuseRing> install(fuse_session* se, unsigned entries_per_queue);
  // Destroy only once the session is gone (its replies come here).
  virtual ~FuseRing() = default;
  // After libfuse's loop has ended (the unmount failed every entry): the
  // ring thread and the request threads stop; later replies are dropped.
  virtual void stop() = 0;
};

// What the mount's root shows in user.rbdfs.fuse.
struct RingFigures {
  std::atomic<bool> active{false};  // entries registered, none refused
  std::atomic<unsigned> queues{0}, entries{0};
  std::atomic<uint64_t> requests{0};  // delivered through the ring
  // entries the kernel cancelled while the mount lived, registered anew
  std::atomic<uint64_t> registered_again{0};
};
RingFigures& ring_figures();
// Bytes of the ring entries' buffers resident now (at most 32 MiB: the
// payload buffers of all entries together).
uint64_t ring_resident_bytes();

}  // namespace rbdfs::ll
