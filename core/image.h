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
//
// This header is the interface (no librados type: fuse/ includes it); the
// implementation is ImageImpl (core/image_impl.h), opened by Pool.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/cls_rbd.h"
#include "core/header.h"
#include "core/read_data.h"
#include "core/result.h"
#include "core/write_buffer.h"

namespace rbdfs::core {

class Image {
 public:
  struct OpenOptions {
    bool read_only = false;  // e.g. the mount is read-only
    bool watch = true;       // watch the header for changes by others
    std::string id;          // the image's id when known (skips the name lookup)
  };
  using ReadCallback = std::function<void(Result<ReadData>)>;
  using IoCallback = std::function<void(Status)>;

  virtual ~Image() = default;

  virtual std::shared_ptr<const ImageHeader> header() const = 0;
  // Our client instance was blocklisted: every operation fails with
  // ESHUTDOWN; open the image again on a new Cluster.
  virtual bool blocklisted() const = 0;
  virtual Status refresh() = 0;
  // The reason writes are refused, or empty.
  std::string read_only_reason() const { return header()->read_only_reason; }

  // Reads [off, off+len) at `snap_id` (cls::NOSNAP for the head). Past the
  // end of the image (or snapshot) the read is short; absent objects read
  // as zeros.
  virtual void aio_read(uint64_t snap_id, uint64_t off, uint64_t len, ReadCallback cb) = 0;
  // The same for a read that may be one piece of a larger one the caller
  // was handed in pieces of at most `piece_size` bytes (FUSE: 1 MiB or a
  // page less): while at least `gather_depth` other full-size pieces are
  // under way (0: always, negative: never), a full-size piece may wait a
  // moment for the pieces after it, so that they reach RADOS as one read
  // (core/read_gather.h).
  virtual void aio_read_piece(uint64_t snap_id, uint64_t off, uint64_t len, uint64_t piece_size,
                              int gather_depth, ReadCallback cb) = 0;
  // Writes inside the image (EFBIG past its end: resize first). `data` is
  // copied before aio_write returns. Under the cluster's write-around budget
  // the callback runs as soon as the write is sent; RADOS' verdict is then
  // reported by the next flush (the first error, once). `stable` writes
  // (O_DSYNC) are acknowledged only once RADOS has them.
  virtual void aio_write(uint64_t off, const char* data, uint64_t len, IoCallback cb,
                         bool stable = false) = 0;
  // The same for data the caller gives up: no copy is made, the object
  // requests share it (at most 4 GiB - 1 in one write).
  virtual void aio_write(uint64_t off, WriteBuffer data, IoCallback cb, bool stable = false) = 0;
  // Whether a write started now would wait before it is sent: the
  // exclusive lock is not held (taking it costs round trips, or waits for
  // another owner to give it up) or writes are held back (snapshot,
  // resize). A hint for a caller that must not wait (FUSE over io_uring's
  // ring thread hands such a write to a thread that may).
  virtual bool write_would_wait() const = 0;
  // Discard and write-zeroes: the range reads as zeros afterwards; whole
  // objects are removed, tails truncated, the rest zeroed.
  virtual void aio_discard(uint64_t off, uint64_t len, IoCallback cb) = 0;
  // Completes when every write submitted before it has completed; reports
  // no error (see check_errors).
  virtual void aio_drain(IoCallback cb) = 0;
  // aio_drain, then the errors since the image was opened (the image's own
  // cursor: for a single user of the image, such as rbdfs-tool).
  virtual void aio_flush(IoCallback cb) = 0;

  // The errseq of early-acknowledged writes. A cursor starts at
  // error_mark(); check_errors() returns the latest error recorded since
  // *cursor and, with `advance`, moves the cursor past it (fsync reports
  // an error once; close() - which runs for every dup of a descriptor,
  // e.g. a child's at exec - reports without consuming).
  virtual uint64_t error_mark() const = 0;
  virtual Status check_errors(std::atomic<uint64_t>* cursor, bool advance = true) const = 0;

  Result<std::string> read(uint64_t snap_id, uint64_t off, uint64_t len);
  Status write(uint64_t off, const char* data, uint64_t len);
  Status discard(uint64_t off, uint64_t len);
  Status drain();
  Status flush();

  // Grows or shrinks (removing and truncating objects past the new end).
  virtual Status resize(uint64_t new_size) = 0;
  // Makes the image at least `size` bytes, recorded in the header object
  // when it returns. Concurrent callers are merged: one grows (to the
  // largest size waited for) while the others wait, so a smaller grow can
  // never land after a larger one and shrink the image.
  virtual Status grow_to(uint64_t size) = 0;
  // The same for a write past the end that is acknowledged early: the
  // cached size grows at once, the header object in the background (one
  // set_size in flight, for the largest size asked; monotonic). drain()
  // waits for it; its failure is a deferred write error (check_errors).
  // `from`: where the write that grows it starts (objects it alone fills
  // are marked in the object map as it grows: one round trip, not two).
  virtual Status grow_async(uint64_t size, uint64_t from = UINT64_MAX) = 0;

  // Snapshots, as `rbd snap create/rm/rename` leave them.
  virtual Result<uint64_t> snap_create(const std::string& name) = 0;
  virtual Status snap_remove(const std::string& name) = 0;
  virtual Status snap_rename(const std::string& from, const std::string& to) = 0;
  virtual Result<bool> snap_protected(uint64_t snap_id) = 0;

  // As `rbd flatten`: a clone copies up every object that still reads
  // through to its parent, then leaves it (its snapshots too with
  // deep-flatten). EINVAL for an image with no parent.
  virtual Status flatten() = 0;

  // lseek SEEK_DATA (data = true) / SEEK_HOLE at `snap_id` from `off`, at
  // stripe-unit granularity: looks only at the objects from `off` on, in
  // parallel batches that double in size (64 .. 4096 objects). ENXIO past
  // the end, and for SEEK_DATA when no data follows.
  virtual Result<uint64_t> seek(uint64_t snap_id, uint64_t off, bool data) = 0;

  // copy_file_range: [src_off, src_off+len) of `src` at `src_snap` to
  // [dst_off, ...) of this image, which must already hold it (EFBIG: grow
  // first). Whole objects of equal, unstriped layouts at the same offset in
  // the object are copied by the OSDs (copy-from), the rest read and
  // written here; what reads as zeros stays a hole. As a write: the lock,
  // the object map, copy-ups. Returns the bytes copied (fewer at the
  // source's end); on an error some of the range may have been copied.
  struct CopyStats {
    uint64_t offloaded = 0;  // bytes copied by the OSDs
    uint64_t moved = 0;      // bytes read and written here
    uint64_t skipped = 0;    // bytes of holes (discarded, not written)
  };
  virtual Result<uint64_t> copy_from(Image& src, uint64_t src_snap, uint64_t src_off,
                                     uint64_t dst_off, uint64_t len,
                                     CopyStats* stats = nullptr) = 0;

  // Tells other clients (librbd, krbd) the header changed.
  virtual void notify_header_update() = 0;

  // `hook` runs (on any thread: it must not block) when another client
  // may have written the image since: we gave the lock up, or another
  // client took or gave it up. Caches above (the page cache) must go.
  virtual void set_foreign_write_hook(std::function<void()> hook) = 0;
};

}  // namespace rbdfs::core
