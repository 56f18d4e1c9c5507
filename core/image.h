// Image: one open RBD format 2 image, read and written with librados alone.
//
// OWNS: the image's metadata ioctx (header, id object) and data ioctx (data
// objects, possibly in a separate data pool), the cached header, a watch on
// the header, and the bookkeeping of writes in flight.
//
// THREAD SAFETY: every public member may be called from any thread.
//   m_header_mu protects m_header (a shared_ptr to an immutable header):
//     readers copy the pointer and work on their copy; refresh() swaps it.
//   m_inflight_mu protects the pending-write set and the flush waiters.
//   Both are leaves: never held across a RADOS call, a user callback, or
//   while taking the other.
//
// I/O: aio_* split a request into object extents (core/striper.h), submit
// every object operation at once (bounded process-wide by Cluster slots),
// and call the callback once, from a librados completion thread, when all
// parts are done, with the first error. Writes carry the image's snapshot
// context, so snapshots taken by anyone keep their data; the header watch
// refreshes the context when another client changes the header.
//
// WRITE ERRORS acknowledged early (write-around) follow the kernel's errseq
// model: the image counts them; a writer samples the count (error_mark)
// before its first write and check_errors() reports what happened since,
// once per sampler. drain() waits without consuming anything, so a
// snapshot, a resize or a notify handler never swallows a writer's error.
//
// SEQUENTIAL WRITES are combined per object (core/write_combiner.h): an
// early-acknowledged write that ends inside an object is held back and the
// writes that continue it join it, so the object gets one write. The held
// extent is sent before anything that must see it: a read, discard or
// seek of the image, a write it does not continue, a drain (flush,
// snapshot, resize, notify handler), a lock release; and after 5 ms
// without a write. It keeps the image and its lock Ref until sent.
//
// GROWING (writes past the end) costs one cls set_size: the new size is
// installed in the cached header at once and other clients are told with
// an asynchronous, coalesced header notify; our own notifies are only
// acknowledged (no flush, no re-read).
//
// FEATURE GATE: open() refuses images whose features rbdfs cannot read
// (EOPNOTSUPP) and opens read-only, with read_only_reason() set, those it
// cannot write safely (exclusive-lock, object-map, fast-diff, journaling,
// unknown bits). Writers to such images would need to take the lock and
// mark objects in the object map first: that plugs in at prepare_write().
#pragma once

#include <rados/librados.hpp>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/cls_rbd.h"
#include "core/exclusive_lock.h"
#include "core/cluster.h"
#include "core/header.h"
#include "core/header_watch.h"
#include "core/names.h"
#include "core/object_map.h"
#include "core/object_usage.h"
#include "core/read_data.h"
#include "core/result.h"
#include "core/striper.h"
#include "core/timer.h"
#include "core/write_buffer.h"
#include "core/write_tracker.h"

namespace rbdfs::core {

struct ImageRequest;

class Image : public std::enable_shared_from_this<Image> {
 public:
  struct OpenOptions {
    bool read_only = false;  // e.g. the mount is read-only
    bool watch = true;       // watch the header for changes by others
    std::string id;          // the image's id when known (skips the name lookup)
  };
  using ReadCallback = std::function<void(Result<ReadData>)>;
  using IoCallback = std::function<void(Status)>;

  // ENOENT: no such image; EOPNOTSUPP: features rbdfs cannot read (the log
  // line says which).
  static Result<std::shared_ptr<Image>> open(std::shared_ptr<Cluster> cluster, librados::IoCtx md,
                                             const std::string& pool, const std::string& name,
                                             const OpenOptions& options);
  ~Image();
  Image(const Image&) = delete;
  Image& operator=(const Image&) = delete;

  std::shared_ptr<const ImageHeader> header() const;
  // Our client instance was blocklisted: every operation fails with
  // ESHUTDOWN; open the image again on a new Cluster.
  bool blocklisted() const { return m_cluster->blocklisted(); }
  Status refresh();
  // The reason writes are refused, or empty.
  std::string read_only_reason() const { return header()->read_only_reason; }

  // Reads [off, off+len) at `snap_id` (cls::NOSNAP for the head). Past the
  // end of the image (or snapshot) the read is short; absent objects read
  // as zeros.
  void aio_read(uint64_t snap_id, uint64_t off, uint64_t len, ReadCallback cb);
  // Writes inside the image (EFBIG past its end: resize first). `data` is
  // copied before aio_write returns. Under the cluster's write-around budget
  // the callback runs as soon as the write is sent; RADOS' verdict is then
  // reported by the next flush (the first error, once). `stable` writes
  // (O_DSYNC) are acknowledged only once RADOS has them.
  void aio_write(uint64_t off, const char* data, uint64_t len, IoCallback cb, bool stable = false);
  // The same for data the caller gives up: no copy is made, the object
  // requests share it (at most 4 GiB - 1 in one write).
  void aio_write(uint64_t off, WriteBuffer data, IoCallback cb, bool stable = false);
  // Discard and write-zeroes: the range reads as zeros afterwards; whole
  // objects are removed, tails truncated, the rest zeroed.
  void aio_discard(uint64_t off, uint64_t len, IoCallback cb);
  // Completes when every write submitted before it has completed; reports
  // no error (see check_errors).
  void aio_drain(IoCallback cb);
  // aio_drain, then the errors since the image was opened (the image's own
  // cursor: for a single user of the image, such as rbdfs-tool).
  void aio_flush(IoCallback cb);

  // The errseq of early-acknowledged writes. A cursor starts at
  // error_mark(); check_errors() returns the latest error recorded since
  // *cursor and, with `advance`, moves the cursor past it (fsync reports
  // an error once; close() - which runs for every dup of a descriptor,
  // e.g. a child's at exec - reports without consuming).
  uint64_t error_mark() const;
  Status check_errors(std::atomic<uint64_t>* cursor, bool advance = true) const;

  Result<std::string> read(uint64_t snap_id, uint64_t off, uint64_t len);
  Status write(uint64_t off, const char* data, uint64_t len);
  Status discard(uint64_t off, uint64_t len);
  Status drain();
  Status flush();

  // Grows or shrinks (removing and truncating objects past the new end).
  Status resize(uint64_t new_size);
  // Makes the image at least `size` bytes, recorded in the header object
  // when it returns. Concurrent callers are merged: one grows (to the
  // largest size waited for) while the others wait, so a smaller grow can
  // never land after a larger one and shrink the image.
  Status grow_to(uint64_t size);
  // The same for a write past the end that is acknowledged early: the
  // cached size grows at once, the header object in the background (one
  // set_size in flight, for the largest size asked; monotonic). drain()
  // waits for it; its failure is a deferred write error (check_errors).
  // `from`: where the write that grows it starts (objects it alone fills
  // are marked in the object map as it grows: one round trip, not two).
  Status grow_async(uint64_t size, uint64_t from = UINT64_MAX);

  // Snapshots, as `rbd snap create/rm/rename` leave them.
  Result<uint64_t> snap_create(const std::string& name);
  Status snap_remove(const std::string& name);
  Status snap_rename(const std::string& from, const std::string& to);
  Result<bool> snap_protected(uint64_t snap_id);

  // lseek SEEK_DATA (data = true) / SEEK_HOLE at `snap_id` from `off`, at
  // stripe-unit granularity: looks only at the objects from `off` on, in
  // parallel batches that double in size (64 .. 4096 objects). ENXIO past
  // the end, and for SEEK_DATA when no data follows.
  Result<uint64_t> seek(uint64_t snap_id, uint64_t off, bool data);

  // Tells other clients (librbd, krbd) the header changed.
  void notify_header_update();

  // `hook` runs (on any thread: it must not block) when another client
  // may have written the image since: we gave the lock up, or another
  // client took or gave it up. Caches above (the page cache) must go.
  void set_foreign_write_hook(std::function<void()> hook);

 private:
  Image(std::shared_ptr<Cluster> cluster, librados::IoCtx md, std::string what);
  // The one gate of every data write and header change (resize,
  // snapshots): EROFS when the image cannot be written safely; with
  // exclusive-lock, the lock, held by the Ref returned. *h is then the
  // header as it is with the lock ours. One per operation (see
  // ExclusiveLock: never nested).
  Result<ExclusiveLock::Ref> prepare_write(std::shared_ptr<const ImageHeader>* h);
  // Writes are submitted between enter_submit and leave_submit; a
  // snapshot blocks new ones and waits for those under way (then drains),
  // so every write is wholly before or after it, object map included.
  // A flag and a count: nothing is held across RADOS calls.
  void enter_submit();
  void leave_submit();
  void block_writes();
  void unblock_writes();
  // The object-map steps of a write to object `objno` (none without a map).
  MapSteps map_steps(uint64_t objno, std::optional<object_map::State> pre,
                     std::optional<object_map::State> post = {});
  // Lock hooks: after acquiring (header, object map), before releasing.
  Status after_lock_acquired(const std::string& cookie);
  void before_lock_released();
  // Header notifies (core/header_watch.h): answered at once, or later.
  std::optional<std::string> quick_notify(const std::string& payload);
  std::string slow_notify(uint64_t notifier, const std::string& payload);
  // Both aio_writes end here: the object requests share `data`.
  void write_shared(uint64_t off, ceph::bufferptr data, IoCallback cb, bool stable);
  // One image request writing `bl` at `off` (inside the image): `early`
  // (its budget reserved): `cb` once sent, RADOS' verdict deferred; else
  // `cb` with RADOS' verdict. Inside the submit gate.
  void send_write(const ImageHeader& h, const cls::SnapContext& snapc, uint64_t off,
                  librados::bufferlist bl, bool early, IoCallback cb, ExclusiveLock::Ref lock);

  // Sequential write combining (see above), under m_held_mu.
  struct Held {
    uint64_t off = 0;
    librados::bufferlist bl;      // shares the writers' buffers
    cls::SnapContext snapc;       // as acknowledged: joined only by writes with it
    ExclusiveLock::Ref lock;      // held until sent
    std::shared_ptr<Image> self;  // the image outlives its held data
  };
  // An early-acknowledged write (budget reserved) on a stripe-count-1
  // image, inside the submit gate: joined, held, sent, or a mix.
  void write_combined(const ImageHeader& h, uint64_t off, ceph::bufferptr data, IoCallback cb,
                      ExclusiveLock::Ref lock);
  // Sends the held extent if it overlaps [off, off+len), after any held
  // extent another thread is sending: what was acknowledged before the
  // caller's operation is ahead of it at RADOS.
  void send_held(uint64_t off = 0, uint64_t len = UINT64_MAX);
  void submit_held(Held held);
  void held_timer(Timer::Clock::time_point when);
  // Another client changed the header (or our watch was re-established).
  void handle_header_change(uint64_t notifier_id);
  // A new image request on this image.
  std::shared_ptr<ImageRequest> new_request();

  // size changes (image_size.cc)
  // Records `size` in the header object and in our cached header.
  Status grow_header(uint64_t size);
  void set_cached_size(uint64_t size);  // m_header_mu held
  // resize() while holding the lock and the size-change token.
  Status resize_now(uint64_t new_size);
  // The background grow (grow_async), a state machine under m_size_mu:
  //   IDLE --grow_async--> SENDING(t) --landed, target > t--> SENDING(target)
  //                            |--landed or failed--> IDLE
  struct BgGrow;
  // Sends set_size(size) as write `seq` (m_bg_sent already set; called
  // without m_size_mu: one in flight at a time, by the state above).
  void send_bg_grow(uint64_t size, uint64_t seq);
  static void bg_grow_done(librados::completion_t c, void* arg);
  void finish_bg_grow(std::shared_ptr<Image> self, uint64_t seq, uint64_t size, int r);

  std::shared_ptr<Cluster> m_cluster;
  librados::IoCtx m_md;    // metadata pool
  librados::IoCtx m_data;  // data pool (same pool unless DATA_POOL)
  bool m_force_read_only = false;
  std::string m_header_oid;

  mutable std::mutex m_header_mu;
  std::shared_ptr<const ImageHeader> m_header;  // GUARDED_BY(m_header_mu)
  // Bumped by every change of m_header and every size we record, so a
  // refresh that read the header object before them does not install an
  // older size.
  uint64_t m_header_gen = 0;  // GUARDED_BY(m_header_mu)
  // The largest size we recorded or are recording since the last refresh
  // that saw them all landed (0: none); reset by a shrink.
  uint64_t m_size_floor = 0;  // GUARDED_BY(m_header_mu)
  // The size the header object holds, as far as we know.
  uint64_t m_recorded = 0;  // GUARDED_BY(m_header_mu)

  WriteTracker m_writes;
  std::atomic<uint64_t> m_own_cursor{0};  // flush()'s errseq cursor

  // Size changes (grow_to, resize) run one at a time; grow_to callers that
  // wait are merged: the next grower grows to the largest size waited for.
  std::mutex m_size_mu;
  std::condition_variable m_size_cv;
  bool m_resizing = false;               // GUARDED_BY(m_size_mu)
  std::multiset<uint64_t> m_grow_waits;  // GUARDED_BY(m_size_mu): sizes waited for
  uint64_t m_bg_target = 0;              // GUARDED_BY(m_size_mu): largest async grow asked
  uint64_t m_bg_sent = 0;                // GUARDED_BY(m_size_mu): set_size in flight (0: idle)
  uint64_t m_bg_next_seq = 0;            // GUARDED_BY(m_size_mu): write held for the next one

  void foreign_write();
  std::mutex m_hook_mu;
  std::function<void()> m_foreign_write_hook;  // GUARDED_BY(m_hook_mu)

  // Block for snapshots (enter_submit .. unblock_writes).
  std::mutex m_gate_mu;
  std::condition_variable m_gate_cv;
  bool m_writes_blocked = false;  // GUARDED_BY(m_gate_mu)
  int m_submitting = 0;           // GUARDED_BY(m_gate_mu)

  std::mutex m_held_mu;
  std::condition_variable m_held_cv;
  std::optional<Held> m_held;               // GUARDED_BY(m_held_mu)
  Timer::Clock::time_point m_held_touched;  // GUARDED_BY(m_held_mu): last joined
  bool m_held_timer_armed = false;          // GUARDED_BY(m_held_mu)
  bool m_held_sending = false;              // GUARDED_BY(m_held_mu): one is being sent
  uint64_t m_last_end = UINT64_MAX;         // GUARDED_BY(m_held_mu): previous write's end
  std::atomic<bool> m_held_active{false};   // held or sending: readers must look

  // Destroyed in reverse: the watch first (its callbacks use the lock),
  // then the lock (its release closes the map), then the map.
  std::unique_ptr<HeadObjectMap> m_map;   // OBJECT_MAP, writable images
  std::unique_ptr<ExclusiveLock> m_lock;  // EXCLUSIVE_LOCK, writable images
  std::unique_ptr<HeaderWatch> m_watch;   // set by open()
};

}  // namespace rbdfs::core
