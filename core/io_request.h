// The I/O path below Image: an image request (one read, write, discard or
// trim of the image) fans out to object requests, one per object extent,
// all in flight at once (bounded process-wide by Cluster slots), and
// completes once, with the first error, when the last one is done.
//
// Each object request is a small state machine:
//
//   read:   START --aio_read-----> OBJECT --reply--> DONE    (ENOENT: zeros)
//                                     |ENOENT, a clone, below the overlap
//                                     v
//                                   PARENT --parent image read--> DONE
//   write:  START --(slot)--> PRE_OBJECT_MAP --map updated--> OBJECT
//                --reply--> POST_OBJECT_MAP --map updated--> DONE
//           (the map steps only with an object map that needs them: EXISTS
//            before a write; PENDING before and NONEXISTENT after a
//            removal; ENOENT ignored for discard/trim)
//   write to an object of a clone that may still lack the parent's data
//   (reference §4.4), the first op guarded by assert_exists:
//           ... OBJECT --ok--> DONE
//                 |ENOENT
//                 v
//           COPYUP_READ --(one of Cluster::MAX_COPYUPS; queued for it)
//              parent's data for the whole object--> COPYUP_MAPS
//              --snapshots' maps updated (only with data, an object map
//                and snapshots that see it)--> COPYUP_DEEP --> COPYUP --> DONE
//           COPYUP_DEEP: [copyup(data)] with an empty snap context, only with
//           data and snapshots (they then keep the parent's data: the write
//           that follows makes the OSD clone the object for them);
//           COPYUP: [copyup(data) unless sent deep, create for discards,
//           the data ops] with the write's snap context. All-zero parent
//           data is not copied (the object reads as zeros either way).
//
// Internal to core/.
#pragma once

#include <rados/librados.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/cls_rbd.h"
#include "core/object_map.h"
#include "core/cluster.h"
#include "core/rados.h"
#include "core/read_data.h"
#include "core/result.h"
#include "core/write_tracker.h"

namespace rbdfs::core {

class ImageImpl;

struct ImageRequest {
  using ReadCallback = std::function<void(Result<ReadData>)>;
  using IoCallback = std::function<void(Status)>;

  // Keeps the image (and so `cluster` and `writes`) alive until the last
  // object request is done; dropped before any callback runs, so an image
  // is never destroyed on a librados thread by us.
  std::shared_ptr<void> owner;
  // Writes: the image's exclusive lock, held until the last object
  // request is done (a release waits for it).
  std::shared_ptr<void> lock_ref;
  Cluster* cluster = nullptr;
  WriteTracker* writes = nullptr;
  std::atomic<uint32_t> pending{1};  // +1 held by the submitter until put()
  std::atomic<int> first_error{0};
  // reads: one part per object extent, filled by the completions (each
  // writes only its own part; the last put() sees them all)
  ReadData data;
  ReadCallback read_cb;
  // Clones (core/parent.h): what an absent object reads through to.
  std::shared_ptr<ImageImpl> parent;  // null: not a clone (here)
  uint64_t parent_snap = 0;
  uint64_t overlap = 0;  // image bytes below it come from the parent
  Layout layout;
  // Part of a child's object request that holds a slot for it: takes none
  // (waiting for one on a librados thread could wait forever).
  bool slotless = false;
  // writes
  uint64_t write_seq = 0;    // from writes->begin()
  uint64_t early_acked = 0;  // bytes of write-around budget held (early_ack, not io_cb)
  IoCallback io_cb;
  // Write-around: run once every data op has been handed to librados or
  // queued in the object map behind its update (not before: a read sent
  // after the acknowledgement must find the write ahead of it; reads of
  // the head queue in the map too).
  IoCallback early_ack;
  std::atomic<uint32_t> unsent{1};  // data ops not yet sent, +1 held by the submitter
  void sent_one();

  void fail(int err);
  // One part done (or the submitter's hold released); the last one
  // completes the request.
  void put();
  // Reads: the parts, before the first submit (completions write into them
  // while later parts are still being submitted).
  void reserve_parts(size_t n, uint64_t length);
  void add_part(ObjectExtent ext);
  size_t parts() const { return data.m_parts.size(); }
  const ObjectExtent& part_extent(size_t i) const;
  librados::bufferlist* part_reply(size_t i);
};

// Clones: what an object request needs to copy an object up (above).
struct Copyup {
  std::vector<ImageRun> runs;  // the object's parent data: image extents below the overlap
  uint64_t objno = 0;
  // The object maps of the snapshots that see the parent's data in this
  // object, oldest first (object-map images only): the oldest gets EXISTS,
  // the newer ones EXISTS_CLEAN with fast-diff (they inherit the data).
  std::vector<std::string> snap_maps;
  bool fast_diff = false;
  librados::IoCtx* md = nullptr;  // where the maps are
  bool create = false;            // discards: the object must exist after (it hides the parent)
  // Only the copy, before a shrink cuts the overlap (librbd's TrimRequest
  // copies up too) and for a flatten: nothing at all where the parent has
  // only zeros; `ops` is then a change without data (librbd: an empty
  // write), so the head map is EXISTS, set before the object is made.
  bool copy_only = false;
  std::function<void(librados::ObjectWriteOperation&)> ops;  // the data ops, built again
};

// Clones: reads `runs` (image extents of one child object, in object
// order, contiguous there) from the parent at `snap_id`; `cb` gets their
// bytes concatenated, zeros where the parent has none; a failure is never
// ENOENT (EIO instead: "absent" would read as zeros). `slotless`: on
// behalf of an object request that holds a slot.
void read_parent_runs(const std::shared_ptr<ImageImpl>& parent, uint64_t snap_id,
                      const std::vector<ImageRun>& runs, bool slotless,
                      std::function<void(Result<librados::bufferlist>)> cb);

// Object request submitters: each takes a slot, sends, and put()s the
// image request when RADOS answers (or at once when sending fails).
// With `map` (the head's, kept by the lock owner): after the writes queued
// for the object, and not at all when the map says it does not exist.
void submit_object_read(const std::shared_ptr<ImageRequest>& req, librados::IoCtx& data,
                        const std::string& oid, size_t part, uint64_t snap_id,
                        HeadObjectMap* map = nullptr);
// With `copyup` (req->parent set): `op` is guarded by assert_exists, and
// ENOENT copies the object up (above).
void submit_object_write(const std::shared_ptr<ImageRequest>& req, librados::IoCtx& data,
                         const std::string& oid, librados::ObjectWriteOperation* op,
                         const cls::SnapContext& snapc, bool ignore_enoent,
                         const MapSteps& steps = {}, std::unique_ptr<Copyup> copyup = nullptr);

}  // namespace rbdfs::core
