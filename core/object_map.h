// The object map of an image (OBJECT_MAP feature): one BitVector<2> object
// per image head and per snapshot, in the metadata pool (reference §3).
//
// load_object_map reads any map (snapshot maps are immutable: anyone may
// use them). HeadObjectMap is the head map as the lock owner keeps it: the
// map object's own lock, a copy in memory, and every change sent before
// the data write it is for, as the compound op [assert_locked, update]:
//
//   update(o, state): NEEDED? --no--> then()
//                       |yes (one update per object in flight; the others
//                       v     queue behind it and are looked at again)
//                     [assert_locked, object_map_update] --ok--> copy set, then()
//                                                       --error--> invalid, then()
//
// An update that fails marks the map invalid (flags on the header, as
// librbd does, before any write goes on): readers then treat every object
// as present and fast-diff falls back to the slow path; nothing is lost.
#pragma once

#include <rados/librados.hpp>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/object_map_codec.h"
#include "core/result.h"

namespace rbdfs::core {

// object_map_load of the head map, or of snapshot `snap_id`'s map.
// ENOENT when there is none.
Result<object_map::Map> load_object_map(librados::IoCtx& md, const std::string& image_id,
                                        std::optional<uint64_t> snap_id = {});

class HeadObjectMap {
 public:
  // What an update's `then` is told when its turn comes.
  enum : int { GO = 0, SKIP = 1 };  // or a negative errno: fail the write

  HeadObjectMap(librados::IoCtx& md, std::string image_id, std::string header_oid, std::string what,
                bool fast_diff);
  HeadObjectMap(const HeadObjectMap&) = delete;
  HeadObjectMap& operator=(const HeadObjectMap&) = delete;

  // On taking the image's lock (`cookie`: ours on the header): the map's
  // own lock (whoever held it loses it: only the image lock's owner may),
  // then a fresh load. A map flagged invalid stays so; one that is missing,
  // unreadable or too small for `n_objects` is flagged invalid.
  Status open(uint64_t n_objects, bool flagged_invalid, const std::string& cookie);
  // On giving the image's lock up (every update has completed).
  void close();

  // Moves object `objno` to `state` (only from `current`, if given), then
  // runs `then(GO)`, on this thread or a librados one. Updates to one
  // object run in the order asked. With `skip_if_absent`, an object the
  // map says does not exist when its turn comes is left alone:
  // `then(SKIP)`. A map that cannot be kept is flagged invalid on the
  // header (under our lock) before anyone goes on; if even that fails,
  // `then(-EIO)`, now and for every later write.
  void update(uint64_t objno, object_map::State state, std::optional<object_map::State> current,
              std::function<void(int)> then, bool skip_if_absent = false);
  // A read of object `objno` of the head: runs `then` after the updates
  // (and so the data writes) queued for the object, with SKIP when the map
  // says the object does not exist, else GO. Writes are acknowledged once
  // queued here, so a read after the acknowledgement must come after them.
  void read_turn(uint64_t objno, std::function<void(int)> then);

  // Synchronous map operations of header changes (writes drained):
  Status resize(uint64_t n_objects, object_map::State fill = object_map::NONEXISTENT);
  // Grows the map to `n_objects` if it has fewer (never shrinks it), and
  // returns once it has. Waits for grow_async's first.
  Status ensure_covers(uint64_t n_objects);
  // The same in the background, for a write past the end: the new objects
  // are busy until the map covers them, so updates (and reads) of them
  // queue behind the resize and the write is not held up by it.
  // `written`: the objects that write will write; when they are all the new
  // ones, the new entries start as EXISTS (no update per object after).
  void grow_async(uint64_t n_objects, const std::vector<uint64_t>& written);
  // After snapshot_add: the head map copied as the snapshot's map, then
  // EXISTS -> EXISTS_CLEAN (with fast-diff).
  Status snapshot_created(uint64_t snap_id);
  // Before removing snapshot `snap_id` (`removed_invalid`: its map is
  // flagged invalid): its EXISTS entries carried into the next newer map
  // (`next_snap`, or the head) as EXISTS_CLEAN -> EXISTS; where that cannot
  // be done, the next map is flagged invalid. Then its map object removed.
  Status snapshot_removing(uint64_t snap_id, bool removed_invalid,
                           std::optional<uint64_t> next_snap);

 private:
  struct Pending {
    object_map::State state;
    std::optional<object_map::State> current;
    std::function<void(int)> then;
    bool skip_if_absent = false;
    bool read = false;  // read_turn: no update, only the order
  };
  // What a pending update comes to when its turn is here (m_mu held):
  // SEND it, or run its `then` with GO, SKIP or an error.
  enum class Turn { SEND, GO, SKIP, FAIL };
  Turn turn(uint64_t objno, const Pending& p) const;
  void send(uint64_t objno, Pending p);
  void finish(uint64_t objno, Pending p, int r);
  // Runs the queue of `objno` from its head (m_mu not held).
  void advance(uint64_t objno, std::vector<std::pair<std::function<void(int)>, int>> run);
  // Invalidation: flags set on the header, under our header lock.
  librados::ObjectWriteOperation invalidate_op(std::optional<uint64_t> snap_id = {}) const;
  // Synchronously (not on a librados thread); m_mu not held.
  void invalidate_now(const char* why, int r);
  // Starts the asynchronous one (m_mu held): true when the caller must
  // send it (send_invalidation, after unlocking).
  bool begin_invalidation(const char* why, int r);
  void send_invalidation();
  void invalidation_done(int r);
  librados::ObjectWriteOperation locked_op() const;

  librados::IoCtx m_md;
  std::string m_image_id;
  std::string m_oid;  // rbd_object_map.<id>
  std::string m_header_oid;
  std::string m_what;
  bool m_fast_diff;

  mutable std::mutex m_mu;
  bool m_open = false;          // GUARDED_BY(m_mu)
  bool m_invalid = false;       // GUARDED_BY(m_mu): flagged (or being flagged) on the header
  bool m_invalidating = false;  // GUARDED_BY(m_mu): set_flags in flight
  bool m_broken = false;        // GUARDED_BY(m_mu): could not even flag it: writes fail
  // Map growth: entries [m_map.size(), m_target) are being added, in
  // steps sent one at a time (their objects busy meanwhile).
  uint64_t m_target = 0;                                       // GUARDED_BY(m_mu)
  std::deque<std::pair<uint64_t, object_map::State>> m_grows;  // GUARDED_BY(m_mu): front in flight
  std::condition_variable m_grow_cv;                           // m_grows became empty
  void send_growth(uint64_t n, object_map::State fill);
  void growth_done(uint64_t n, object_map::State fill, int r);
  void wait_growth_idle(std::unique_lock<std::mutex>& l);
  std::string m_cookie;   // GUARDED_BY(m_mu): our header lock's
  object_map::Map m_map;  // GUARDED_BY(m_mu)
  // per object: the updates waiting behind the one in flight
  std::unordered_map<uint64_t, std::deque<Pending>> m_busy;  // GUARDED_BY(m_mu)
  // updates held while the invalidation is in flight
  std::vector<std::pair<uint64_t, Pending>> m_held;  // GUARDED_BY(m_mu)
};

// A data write's object-map steps (with `map`; nullptr: none).
struct MapSteps {
  HeadObjectMap* map = nullptr;
  uint64_t objno = 0;
  std::optional<object_map::State> pre;   // before the data op
  std::optional<object_map::State> post;  // after it (from PENDING)
  bool skip_if_absent = false;            // discards: nothing to do on an absent object
};

}  // namespace rbdfs::core
