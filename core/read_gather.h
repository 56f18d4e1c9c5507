// Read gathering: joining the pieces the kernel cuts one large read into.
//
// FUSE carries at most 1 MiB per request (libfuse 3.14's limit), so a 4 MiB
// read (fio, qemu, the kernel's readahead) reaches rbdfs as four requests
// back to back, all in one object, and RADOS would get four reads where
// librbd sends one; the OSD spends more per byte on the smaller reads
// (librbd itself: 10 % less throughput with 1 MiB reads than with 4 MiB ones,
// on the same cluster). So a full-size piece that does not reach its
// object's end is held for a moment (`hold`); the pieces that touch it
// join it, and the group goes to RADOS as one read when
//
//   - it reaches its object's end,
//   - a shorter piece joins it (the last of its read),
//   - a read starts where it ends but leaves its object, or
//   - the hold runs out: no piece joined it for `hold` (the caller's timer
//     calls expire()).
//
//   piece --full-size, inside its object, holds pay--> HELD --a neighbour joins--> HELD
//     |                                                 |  \--end/short/leaves--> SENT
//     \--otherwise--> SENT (alone)                      \--hold runs out--> SENT
//
// A piece joins the group that ends where it starts and the one that
// starts where it ends (FUSE workers may take one read's pieces out of
// order).
//
// Gathering pays only under load: one read alone finishes sooner in pieces,
// which the OSD serves in parallel (measured: a 4 MiB dd, 440 MB/s gathered
// against 525 MB/s in pieces), so a group starts only while the caller has
// many reads under way. Holding costs when nothing follows (a lone
// full-size read): the unit keeps a score, holds only while holds pay off,
// and while it does not hold it watches for the quick follower that would
// make them pay again.
//
// This unit is the bookkeeping alone: no threads and no clock of its own
// (times come in), the payload is the caller's. Pure, unit-tested. Only
// for layouts with a stripe count of 1 (an image range then lies in its
// objects in order). Not thread-safe: the caller holds a mutex around it.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace rbdfs::core {

template <typename Payload>
class ReadGather {
 public:
  using Clock = std::chrono::steady_clock;

  struct Piece {
    uint64_t off = 0;
    uint64_t len = 0;
    Payload payload;
  };
  // One read to send: [off, off+len) of snapshot `snap`, answering the
  // pieces (in image order; they cover the range exactly).
  struct Group {
    uint64_t snap = 0;
    uint64_t off = 0;
    uint64_t len = 0;
    std::vector<Piece> pieces;
  };
  struct Decision {
    std::vector<Group> send;  // send now, in this order
    // The read is held: the caller's timer must call expire() at this
    // time (or later) unless it is already armed for an earlier one.
    std::optional<Clock::time_point> expire_at;
  };

  ReadGather(uint64_t piece_size, Clock::duration hold) : m_piece(piece_size), m_hold(hold) {}

  // A read of [off, off+len) (len > 0) of snapshot `snap` at `now`; `deep`:
  // the caller has enough other full-size pieces under way that the OSDs stay busy
  // while this one waits (else one read alone is faster in pieces, which
  // the OSD serves in parallel: a new group is not started).
  Decision add(uint64_t snap, uint64_t object_size, uint64_t off, uint64_t len, Payload payload,
               Clock::time_point now, bool deep = true) {
    Decision d;
    const uint64_t end = off + len;
    const bool inside = (end - 1) / object_size == off / object_size;
    const bool reaches_end = end % object_size == 0;

    // A quick follower of a full-size piece sent alone: holds would pay.
    if (m_recent && m_recent->snap == snap && m_recent->end == off && now - m_recent->at <= m_hold)
      m_score = std::min(m_score + 1, SCORE_MAX);
    m_recent.reset();

    // Its neighbours: a group ending where it starts, one starting where it
    // ends (FUSE workers may take the pieces of one read out of order).
    auto before = ending_at(snap, off);
    auto after = inside && !reaches_end ? m_held.find(Key{snap, end}) : m_held.end();
    if (before == m_held.end() && after == m_held.end()) {
      if (deep && len == m_piece && inside && !reaches_end && m_score >= 0 &&
          !m_held.count(Key{snap, off})) {  // (a twin of a held read goes alone)
        Held g;
        g.group = Group{snap, off, len, {}};
        g.group.pieces.push_back(Piece{off, len, std::move(payload)});
        g.deadline = now + m_hold;
        d.expire_at = g.deadline;
        m_held.emplace(Key{snap, off}, std::move(g));
        return d;
      }
      if (len == m_piece && inside && !reaches_end) m_recent = Recent{snap, end, now};
      d.send.push_back(alone(snap, off, len, std::move(payload)));
      return d;
    }
    m_score = std::min(m_score + 1, SCORE_MAX);
    if (!inside) {  // it leaves the object: the group before it is complete
      d.send.push_back(std::move(before->second.group));
      m_held.erase(before);
      d.send.push_back(alone(snap, off, len, std::move(payload)));
      return d;
    }
    Held g;
    if (before != m_held.end()) {
      g = std::move(before->second);
      m_held.erase(before);
    } else {
      g.group = Group{snap, off, 0, {}};
    }
    g.deadline = now + m_hold;  // the next piece gets as long as this one had
    g.group.len += len;
    g.group.pieces.push_back(Piece{off, len, std::move(payload)});
    if (after != m_held.end()) {
      Held& a = after->second;
      g.group.len += a.group.len;
      for (auto& p : a.group.pieces) g.group.pieces.push_back(std::move(p));
      m_held.erase(after);
    }
    // Complete when it reaches its object's end or its last piece is a
    // short one (the end of its read); a twin group starting at the same
    // place: no waiting either.
    const uint64_t gend = g.group.off + g.group.len;
    if (gend % object_size == 0 || g.group.pieces.back().len < m_piece ||
        m_held.count(Key{snap, g.group.off})) {
      d.send.push_back(std::move(g.group));
    } else {
      d.expire_at = g.deadline;
      m_held.emplace(Key{snap, g.group.off}, std::move(g));
    }
    return d;
  }

  // The groups whose hold has run out by `now`, and when to look again
  // (if any group is still held).
  std::pair<std::vector<Group>, std::optional<Clock::time_point>> expire(Clock::time_point now) {
    std::vector<Group> out;
    std::optional<Clock::time_point> next;
    for (auto it = m_held.begin(); it != m_held.end();) {
      if (it->second.deadline <= now) {
        // the hold ran out: nothing joined (holding did not pay), or the
        // last piece waited for nothing (a read ending inside its object)
        m_score = std::max(m_score - 2, SCORE_MIN);
        out.push_back(std::move(it->second.group));
        it = m_held.erase(it);
      } else {
        if (!next || it->second.deadline < *next) next = it->second.deadline;
        ++it;
      }
    }
    return {std::move(out), next};
  }

  size_t held() const { return m_held.size(); }
  // Whether a piece shorter than a full one can matter to add(): it may
  // end a held group, or follow the full piece just sent alone (evidence
  // for holding). When not, the caller may read short pieces alone
  // without calling add().
  bool wants_short() const { return !m_held.empty() || m_recent.has_value(); }
  int score() const { return m_score; }

 private:
  static constexpr int SCORE_MAX = 8;
  static constexpr int SCORE_MIN = -8;

  struct Key {
    uint64_t snap;
    uint64_t start;
    bool operator<(const Key& o) const { return snap != o.snap ? snap < o.snap : start < o.start; }
  };
  struct Held {
    Group group;
    Clock::time_point deadline;
  };
  struct Recent {
    uint64_t snap;
    uint64_t end;
    Clock::time_point at;
  };

  // The held group of `snap` that ends at `off`, or end().
  typename std::map<Key, Held>::iterator ending_at(uint64_t snap, uint64_t off) {
    auto it = m_held.lower_bound(Key{snap, off});
    if (it == m_held.begin()) return m_held.end();
    --it;
    if (it->first.snap != snap || it->second.group.off + it->second.group.len != off)
      return m_held.end();
    return it;
  }

  static Group alone(uint64_t snap, uint64_t off, uint64_t len, Payload payload) {
    Group g{snap, off, len, {}};
    g.pieces.push_back(Piece{off, len, std::move(payload)});
    return g;
  }

  const uint64_t m_piece;
  const Clock::duration m_hold;
  std::map<Key, Held> m_held;  // by where each group starts
  int m_score = 0;
  std::optional<Recent> m_recent;
};

}  // namespace rbdfs::core
