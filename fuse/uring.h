// FUSE over io_uring (Linux 6.14+, `fuse.enable_uring=1`): requests reach
// rbdfs through ring entries instead of read(2) on /dev/fuse, and replies
// go back as the next fetch's commit. libfuse 3.14 knows nothing of it, so
// this unit sits under libfuse as its custom I/O:
//
//   * writev: the first reply of the session is INIT's; it is sent with
//     FUSE_OVER_IO_URING set, then the ring thread gives every CPU's queue
//     its entries. A reply whose unique belongs to a ring entry is copied
//     into that entry and queued for the ring thread to commit; any other
//     goes to /dev/fuse as before.
//   * the ring thread commits the replies queued (one submission for all
//     of them), and hands each request delivered to libfuse
//     (fuse_session_process_buf) as if read from /dev/fuse: reads and
//     writes on the ring thread itself (their handlers start RADOS I/O;
//     a write that would first wait goes to a thread that may), anything
//     else on a few threads of its own (it may wait on RADOS).
//
// Every command is the ring thread's: the kernel delivers a request into
// an idle entry as task work of the thread that last committed it, so a
// thread that exits (a replaced librados instance) or sleeps where the
// kernel waits on a read of ours (page-cache invalidation) must never be
// that thread.
//
// /dev/fuse stays in use for what the kernel keeps there (FORGET,
// INTERRUPT, notifications) and for noticing the unmount, so libfuse's
// loop runs as before.
//
// One ring entry:
//
//   REGISTER --> AVAILABLE --(CQE 0: a request)--> IN_USE --(reply copied
//        in, queued; the ring thread: COMMIT_AND_FETCH)--> AVAILABLE ...
//   AVAILABLE --(CQE -ENOTCONN: the unmount)--> DEAD
//   IN_USE --(commit refused: CQE < 0)--> LOST (counted, logged)
//
// Locks: Ring::m_mu guards the in-use map and the commit queue (no RADOS,
// no libfuse call, no system call under it); the ring's queues belong to
// the ring thread.
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
  // ring thread and the request threads stop; later replies are dropped
  // (after a signal rather than an unmount, their callers get
  // ECONNABORTED once the session is destroyed).
  virtual void stop() = 0;
};

// What the mount's root shows in user.rbdfs.fuse.
struct RingFigures {
  std::atomic<bool> active{false};  // entries registered, none refused
  std::atomic<unsigned> queues{0}, entries{0};
  std::atomic<uint64_t> requests{0};  // delivered through the ring
  // entries the kernel refused (registrations, or commits: those entries
  // are gone)
  std::atomic<uint64_t> lost{0};
};
RingFigures& ring_figures();
// Bytes of the ring entries' buffers resident now (at most 64 MiB: the
// payload buffers of all entries together; 32 MiB on 2 CPUs by default).
uint64_t ring_resident_bytes();

}  // namespace rbdfs::ll
