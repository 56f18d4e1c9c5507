// ImageImpl: core's Image (core/image.h): one open RBD format 2 image, read
// and written with librados alone. What it owns, its locks and its I/O
// rules are described in core/image.h. Internal to core/ (and the tools).
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
#include "core/image.h"
#include "core/header_watch.h"
#include "core/names.h"
#include "core/object_map.h"
#include "core/object_usage.h"
#include "core/read_data.h"
#include "core/read_gather.h"
#include "core/result.h"
#include "core/striper.h"
#include "core/timer.h"
#include "core/write_buffer.h"
#include "core/write_tracker.h"

namespace rbdfs::core {

struct ImageRequest;
struct Copyup;

class ImageImpl final : public Image, public std::enable_shared_from_this<ImageImpl> {
 public:
  // ENOENT: no such image; EOPNOTSUPP: features rbdfs cannot read (the log
  // line says which).
  static Result<std::shared_ptr<ImageImpl>> open(std::shared_ptr<Cluster> cluster,
                                                 librados::IoCtx md, const std::string& pool,
                                                 const std::string& name,
                                                 const OpenOptions& options);
  ~ImageImpl() override;
  ImageImpl(const ImageImpl&) = delete;
  ImageImpl& operator=(const ImageImpl&) = delete;

  std::shared_ptr<const ImageHeader> header() const override;
  bool blocklisted() const override;
  Status refresh() override;
  void aio_read(uint64_t snap_id, uint64_t off, uint64_t len, ReadCallback cb) override;
  void aio_read_piece(uint64_t snap_id, uint64_t off, uint64_t len, uint64_t piece_size,
                      int gather_depth, ReadCallback cb) override;
  void aio_write(uint64_t off, const char* data, uint64_t len, IoCallback cb, bool stable) override;
  void aio_write(uint64_t off, WriteBuffer data, IoCallback cb, bool stable) override;
  bool write_would_wait() const override;
  void aio_discard(uint64_t off, uint64_t len, IoCallback cb) override;
  void aio_drain(IoCallback cb) override;
  void aio_flush(IoCallback cb) override;
  uint64_t error_mark() const override;
  Status check_errors(std::atomic<uint64_t>* cursor, bool advance) const override;
  Status resize(uint64_t new_size) override;
  Status grow_to(uint64_t size) override;
  Status grow_async(uint64_t size, uint64_t from) override;
  Result<uint64_t> snap_create(const std::string& name) override;
  Status snap_remove(const std::string& name) override;
  Status snap_rename(const std::string& from, const std::string& to) override;
  Result<bool> snap_protected(uint64_t snap_id) override;
  Status flatten() override;
  Result<uint64_t> seek(uint64_t snap_id, uint64_t off, bool data) override;
  void notify_header_update() override;
  Result<uint64_t> copy_from(Image& src, uint64_t src_snap, uint64_t src_off, uint64_t dst_off,
                             uint64_t len, CopyStats* stats) override;

  // A snapshot in the snapshot trash whose last clone has gone (see
  // Pool::detach_from_parent): removed as snap_remove removes one.
  Status snap_remove_trashed(uint64_t snap_id);

  // A clone's read of this image as its parent (core/parent.h): as
  // aio_read; `slotless` when the child's object request holds the slot.
  void read_for_child(uint64_t snap_id, uint64_t off, uint64_t len, bool slotless, ReadCallback cb);
  void set_foreign_write_hook(std::function<void()> hook) override;

 private:
  ImageImpl(std::shared_ptr<Cluster> cluster, librados::IoCtx md, std::string what);
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
    librados::bufferlist bl;          // shares the writers' buffers
    cls::SnapContext snapc;           // as acknowledged: joined only by writes with it
    ExclusiveLock::Ref lock;          // held until sent
    std::shared_ptr<ImageImpl> self;  // the image outlives its held data
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
  void held_sent();  // the send of a taken extent is under way: others may go on
  void held_timer(Timer::Clock::time_point when);
  // Another client changed the header (or our watch was re-established).
  void handle_header_change(uint64_t notifier_id);
  // A new image request on this image.
  std::shared_ptr<ImageRequest> new_request();
  void read_impl(uint64_t snap_id, uint64_t off, uint64_t len, bool slotless, ReadCallback cb);
  // Read gathering (core/image_gather.cc), under m_gather_mu.
  using Gather = ReadGather<ReadCallback>;
  void send_gathered(Gather::Group g);
  void gather_timer(Timer::Clock::time_point when);
  // Clones: what copies object `objno` up before a write to it (the
  // caller adds the data ops), or null when it has no parent data.
  std::unique_ptr<Copyup> copyup_for(const ImageHeader& h, uint64_t objno);
  // Sets the request's parent for copy-ups (false: the parent is not open).
  bool link_parent(ImageRequest& req, const ImageHeader& h) const;
  // Clones: the parent of `h` (opened by open() and refresh()), or null.
  std::shared_ptr<ImageImpl> parent_of(const ImageHeader& h) const;
  Status open_parent_of(const ImageHeader& h);

  // copies (image_copy.cc): through this process; whole objects by the OSDs
  Status copy_by_rw(ImageImpl& src, uint64_t src_snap, uint64_t src_off, uint64_t dst_off,
                    uint64_t len, CopyStats* stats);
  Status copy_objects(ImageImpl& src, uint64_t src_snap, uint64_t src_obj, uint64_t dst_obj,
                      uint64_t count, CopyStats* stats);

  // size changes (image_size.cc)
  // Records `size` in the header object and in our cached header.
  Status grow_header(uint64_t size);
  void set_cached_size(uint64_t size);  // m_header_mu held
  // resize() while holding the lock and the size-change token.
  Status resize_now(uint64_t new_size);
  // snap_remove and snap_remove_trashed, with the lock held.
  Status remove_snap(const ImageHeader& h, const cls::SnapshotInfo& s);
  // Clones with snapshots: before shrinking below the overlap.
  Status copy_up_before_shrink(uint64_t new_size);
  // Copies up objects [first, end) where they hold parent data past image
  // offset `keep` (the rest reads the same from the child), at most
  // `batch` at a time; inside the submit gate per batch.
  Status copy_up_objects(uint64_t first, uint64_t end, uint64_t keep, uint64_t batch);
  // The background grow (grow_async), a state machine under m_size_mu:
  //   IDLE --grow_async--> SENDING(t) --landed, target > t--> SENDING(target)
  //                            |--landed or failed--> IDLE
  struct BgGrow;
  // Sends set_size(size) as write `seq` (m_bg_sent already set; called
  // without m_size_mu: one in flight at a time, by the state above).
  void send_bg_grow(uint64_t size, uint64_t seq);
  static void bg_grow_done(librados::completion_t c, void* arg);
  void finish_bg_grow(std::shared_ptr<ImageImpl> self, uint64_t seq, uint64_t size, int r);

  std::shared_ptr<Cluster> m_cluster;
  librados::IoCtx m_md;    // metadata pool
  librados::IoCtx m_data;  // data pool (same pool unless DATA_POOL)
  bool m_force_read_only = false;
  std::string m_header_oid;

  mutable std::mutex m_header_mu;
  std::shared_ptr<const ImageHeader> m_header;  // GUARDED_BY(m_header_mu)
  // Clones: the parent image at the parent snapshot (shared, read-only).
  std::shared_ptr<ImageImpl> m_parent;  // GUARDED_BY(m_header_mu)
  cls::ParentSpec m_parent_spec;        // GUARDED_BY(m_header_mu): m_parent's
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
  mutable std::mutex m_gate_mu;
  std::condition_variable m_gate_cv;
  bool m_writes_blocked = false;  // GUARDED_BY(m_gate_mu)
  int m_submitting = 0;           // GUARDED_BY(m_gate_mu)

  std::mutex m_gather_mu;
  std::optional<Gather> m_gather;  // GUARDED_BY(m_gather_mu): made by the first piece
  bool m_gather_armed = false;     // GUARDED_BY(m_gather_mu): its timer is set
  // m_gather->wants_short(), written under m_gather_mu and read without
  // it (when false a short piece goes straight out)
  std::atomic<bool> m_gather_wants_short{false};
  // full-size pieces read through aio_read_piece and not answered yet
  // (shared with their callbacks)
  std::shared_ptr<std::atomic<int>> m_pieces_in_flight = std::make_shared<std::atomic<int>>(0);

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
