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
// librbd does): readers then treat every object as present and fast-diff
// falls back to the slow path; nothing is lost.
#pragma once

#include <rados/librados.hpp>

#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/object_map_codec.h"
#include "core/result.h"

namespace rbdfs::core {

// object_map_load of the head map, or of snapshot `snap_id`'s map.
// ENOENT when there is none.
Result<object_map::Map> load_object_map(librados::IoCtx& md, const std::string& image_id,
                                        std::optional<uint64_t> snap_id = {});

class HeadObjectMap {
 public:
  HeadObjectMap(librados::IoCtx& md, std::string image_id, std::string header_oid, std::string what,
                bool fast_diff);
  HeadObjectMap(const HeadObjectMap&) = delete;
  HeadObjectMap& operator=(const HeadObjectMap&) = delete;

  // On taking the image's lock: the map's own lock (whoever held it loses
  // it: only the image lock's owner may), then a fresh load. A map that is
  // missing, unreadable or too small for `n_objects` is marked invalid.
  Status open(uint64_t n_objects);
  // On giving the image's lock up (every update has completed).
  void close();

  // The rule librbd and krbd share: does moving from `cur` to `next` need
  // a map update? (EXISTS_CLEAN -> EXISTS does: fast-diff depends on it.)
  static bool update_needed(object_map::State cur, object_map::State next);
  // Moves object `objno` to `state` (only from `current`, if given) and
  // then runs `then(true)`, on this thread or a librados one. Updates to
  // one object run in the order asked. With `skip_if_absent`, an object
  // the map says does not exist when its turn comes is left alone:
  // `then(false)` (a discard of it has nothing to do).
  void update(uint64_t objno, object_map::State state, std::optional<object_map::State> current,
              std::function<void(bool)> then, bool skip_if_absent = false);
  // The object's state; EXISTS when the map is invalid or closed.
  object_map::State state(uint64_t objno) const;
  bool valid() const;

  // Synchronous map operations of header changes (writes drained):
  Status resize(uint64_t n_objects);
  // After snapshot_add: the head map copied as the snapshot's map, then
  // EXISTS -> EXISTS_CLEAN (with fast-diff).
  Status snapshot_created(uint64_t snap_id);
  // Before removing snapshot `snap_id`: its EXISTS entries carried into the
  // next newer map (`next_snap`, or the head) as EXISTS_CLEAN -> EXISTS;
  // then its map object removed.
  Status snapshot_removing(uint64_t snap_id, std::optional<uint64_t> next_snap);

 private:
  struct Pending {
    object_map::State state;
    std::optional<object_map::State> current;
    std::function<void(bool)> then;
    bool skip_if_absent = false;
  };
  // What a pending update comes to when its turn is here (m_mu held).
  enum class Turn { SEND, PROCEED, SKIP };
  Turn turn(uint64_t objno, const Pending& p) const;
  struct InFlight;
  void send(uint64_t objno, Pending p);
  static void sent(librados::completion_t c, void* arg);
  void finish(uint64_t objno, Pending p, int r);
  void invalidate(const char* why, int r);  // m_mu held
  librados::ObjectWriteOperation locked_op() const;

  librados::IoCtx m_md;
  std::string m_image_id;
  std::string m_oid;  // rbd_object_map.<id>
  std::string m_header_oid;
  std::string m_what;
  bool m_fast_diff;

  mutable std::mutex m_mu;
  bool m_open = false;                                       // GUARDED_BY(m_mu)
  bool m_invalid = false;                                    // GUARDED_BY(m_mu)
  object_map::Map m_map;                                     // GUARDED_BY(m_mu)
  std::unordered_map<uint64_t, std::deque<Pending>> m_busy;  // GUARDED_BY(m_mu)
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
