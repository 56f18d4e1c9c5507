// Read gathering (core/read_gather.h): the split 4 MiB read, reads that
// must not wait, the score, and random read sequences in which every piece
// must be answered exactly once by a group that covers it.
#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <set>
#include <vector>

#include "core/read_gather.h"

using namespace rbdfs::core;

namespace {

constexpr uint64_t MiB = 1 << 20;
constexpr uint64_t OS = 4 * MiB;
using G = ReadGather<int>;
using Clock = G::Clock;
const auto HOLD = std::chrono::microseconds(300);

std::vector<std::pair<uint64_t, uint64_t>> ranges(const std::vector<G::Group>& gs) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (const auto& g : gs) out.emplace_back(g.off, g.len);
  return out;
}

}  // namespace

TEST_CASE("the four pieces of a 4 MiB read go to RADOS as one read", "[read_gather]") {
  G g(MiB, HOLD);
  auto t = Clock::now();
  for (int k = 0; k < 3; ++k) {
    auto d = g.add(7, OS, static_cast<uint64_t>(k) * MiB, MiB, k, t);
    CHECK(d.send.empty());
    CHECK(d.expire_at == t + HOLD);  // from the last piece that joined
    t += std::chrono::microseconds(200);
  }
  auto d = g.add(7, OS, 3 * MiB, MiB, 3, t);
  REQUIRE(d.send.size() == 1);
  CHECK(d.send[0].snap == 7);
  CHECK(d.send[0].off == 0);
  CHECK(d.send[0].len == OS);
  REQUIRE(d.send[0].pieces.size() == 4);
  for (uint64_t k = 0; k < 4; ++k) {
    CHECK(d.send[0].pieces[k].payload == static_cast<int>(k));
    CHECK(d.send[0].pieces[k].off == k * MiB);
  }
  CHECK(g.held() == 0);
}

TEST_CASE("pieces taken out of order still make one read", "[read_gather]") {
  G g(MiB, HOLD);
  auto t = Clock::now();
  CHECK(g.add(0, OS, 2 * MiB, MiB, 2, t).send.empty());
  CHECK(g.add(0, OS, 0, MiB, 0, t).send.empty());
  CHECK(g.held() == 2);
  CHECK(g.add(0, OS, MiB, MiB, 1, t).send.empty());  // joins both neighbours
  CHECK(g.held() == 1);
  auto d = g.add(0, OS, 3 * MiB, MiB, 3, t);
  REQUIRE(d.send.size() == 1);
  CHECK(d.send[0].off == 0);
  CHECK(d.send[0].len == OS);
  REQUIRE(d.send[0].pieces.size() == 4);
  for (uint64_t k = 0; k < 4; ++k) CHECK(d.send[0].pieces[k].off == k * MiB);
  // the last piece first: it waits for nobody, the others gather
  CHECK(g.add(0, OS, OS + 3 * MiB, MiB, 3, t).send.size() == 1);
  CHECK(g.add(0, OS, OS, MiB, 0, t).send.empty());
  d = g.add(0, OS, OS + MiB, MiB, 1, t);
  CHECK(d.send.empty());
  d = g.add(0, OS, OS + 2 * MiB, MiB, 2, t);
  CHECK(d.send.empty());  // ends at 3 MiB: a fourth could still come
  auto [out, next] = g.expire(t + HOLD);
  CHECK(ranges(out) == decltype(ranges({})){{OS, 3 * MiB}});
}

TEST_CASE("reads that cannot be the first piece of a larger read go at once", "[read_gather]") {
  G g(MiB, HOLD);
  auto t = Clock::now();
  // small, reaching the object's end, crossing objects
  CHECK(ranges(g.add(0, OS, 0, 4096, 0, t).send) == decltype(ranges({})){{0, 4096}});
  CHECK(g.add(0, OS, 3 * MiB, MiB, 0, t).send.size() == 1);
  CHECK(g.add(0, OS, 3 * MiB + 4096, MiB, 0, t).send.size() == 1);
  CHECK(g.held() == 0);
}

TEST_CASE("a shorter piece ends its group, a read leaving the object sends it", "[read_gather]") {
  G g(MiB, HOLD);
  auto t = Clock::now();
  CHECK(g.add(0, OS, 0, MiB, 0, t).send.empty());
  auto d = g.add(0, OS, MiB, 512 * 1024, 1, t);  // a 1.5 MiB read
  CHECK(ranges(d.send) == decltype(ranges({})){{0, MiB + 512 * 1024}});

  // a 4 MiB read at 0.5 MiB: three pieces inside the first object, the
  // fourth across the boundary
  const uint64_t a = 512 * 1024;
  CHECK(g.add(0, OS, a, MiB, 0, t).send.empty());
  CHECK(g.add(0, OS, a + MiB, MiB, 1, t).send.empty());
  CHECK(g.add(0, OS, a + 2 * MiB, MiB, 2, t).send.empty());
  d = g.add(0, OS, a + 3 * MiB, MiB, 3, t);
  CHECK(ranges(d.send) == decltype(ranges({})){{a, 3 * MiB}, {a + 3 * MiB, MiB}});
  CHECK(g.held() == 0);
}

TEST_CASE("snapshots are not mixed, and a twin read is not lost", "[read_gather]") {
  G g(MiB, HOLD);
  auto t = Clock::now();
  CHECK(g.add(1, OS, 0, MiB, 0, t).send.empty());
  CHECK(g.add(2, OS, MiB, MiB, 1, t).send.empty());  // another snapshot: its own group
  CHECK(g.held() == 2);
  // the same range again while the first is held: sent alone, not dropped
  auto d = g.add(1, OS, 0, MiB, 2, t);
  REQUIRE(d.send.size() == 1);
  CHECK(d.send[0].pieces[0].payload == 2);
  auto [out, next] = g.expire(t + HOLD);
  CHECK(out.size() == 2);
  CHECK(!next);
}

TEST_CASE("holds that do not pay stop, and quick followers start them again", "[read_gather]") {
  G g(MiB, HOLD);
  auto t = Clock::now();
  // 1 MiB reads one at a time: each held piece expires alone
  int held = 0;
  for (uint64_t k = 0; k < 6; ++k) {
    auto d = g.add(0, OS, (k % 3) * MiB + 8 * MiB * k, MiB, static_cast<int>(k), t);
    if (d.send.empty()) {
      ++held;
      auto [out, next] = g.expire(t + HOLD);
      CHECK(out.size() == 1);
    }
    t += std::chrono::milliseconds(2);
  }
  CHECK(held == 1);  // the first: score 0 -> -2, no holding after it
  CHECK(g.score() < 0);
  // split 4 MiB reads again: each piece follows the last within the hold
  size_t sends = 0;
  for (uint64_t k = 0; k < 3; ++k) {
    for (uint64_t p = 0; p < 4; ++p)
      sends +=
          g.add(0, OS, 64 * MiB + k * OS + p * MiB, MiB, 0, t + p * std::chrono::microseconds(20))
              .send.size();
    sends += g.expire(t + std::chrono::milliseconds(1)).first.size();
    t += std::chrono::milliseconds(2);
  }
  CHECK(sends == 3 + 1 + 1);  // the first read gathers its last two pieces, the others all four
  CHECK(g.score() >= 0);
  CHECK(g.add(0, OS, 128 * MiB, MiB, 0, t).send.empty());  // holding again
}

TEST_CASE("random reads: every piece answered once, by a group that covers it", "[read_gather]") {
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    INFO("seed " << seed);
    std::mt19937_64 rng(seed);
    const uint64_t os = (rng() % 2) ? OS : MiB * 2;
    const uint64_t piece = (rng() % 2) ? MiB : 256 * 1024;
    G g(piece, HOLD);
    auto t = Clock::now();
    std::map<int, std::pair<uint64_t, uint64_t>> asked;  // id -> range
    std::map<int, uint64_t> snap_of;
    std::set<int> answered;
    auto check = [&](const std::vector<G::Group>& gs) {
      for (const auto& grp : gs) {
        REQUIRE(!grp.pieces.empty());
        uint64_t at = grp.off;
        for (const auto& p : grp.pieces) {
          REQUIRE(answered.insert(p.payload).second);  // once
          REQUIRE(asked.at(p.payload) == std::make_pair(p.off, p.len));
          REQUIRE(snap_of.at(p.payload) == grp.snap);
          REQUIRE(p.off == at);  // in order, no gaps
          at += p.len;
        }
        REQUIRE(at == grp.off + grp.len);
        // a group of several pieces stays inside one object
        if (grp.pieces.size() > 1) REQUIRE(grp.off / os == (grp.off + grp.len - 1) / os);
      }
    };
    int id = 0;
    for (int op = 0; op < 60; ++op) {
      // split reads of 1-6 pieces at random places, sometimes interleaved
      uint64_t off = (rng() % 64) * (rng() % 2 ? piece : 4096);
      int n = 1 + static_cast<int>(rng() % 6);
      uint64_t snap = rng() % 2;
      for (int k = 0; k < n; ++k) {
        uint64_t len = (k == n - 1 && rng() % 2) ? 4096 * (1 + rng() % 255) : piece;
        asked[id] = {off, len};
        snap_of[id] = snap;
        auto d = g.add(snap, os, off, len, id, t);
        check(d.send);
        ++id;
        off += len;
        t += std::chrono::microseconds(rng() % 200);
      }
      if (rng() % 3 == 0) check(g.expire(t).first);
    }
    check(g.expire(t + HOLD).first);
    REQUIRE(g.held() == 0);
    REQUIRE(answered.size() == asked.size());
  }
}

TEST_CASE("without other reads under way no group starts", "[read_gather]") {
  G g(MiB, HOLD);
  auto t = Clock::now();
  auto d = g.add(0, OS, 0, MiB, 0, t, false);
  CHECK(d.send.size() == 1);
  CHECK(!d.expire_at);
  CHECK(g.held() == 0);
  // a group started under load still takes its pieces
  CHECK(g.add(0, OS, OS, MiB, 0, t, true).send.empty());
  CHECK(g.add(0, OS, OS + MiB, MiB, 1, t, false).send.empty());
  CHECK(g.held() == 1);
}

TEST_CASE("a group whose last piece waited for nothing counts against holding", "[read_gather]") {
  G g(MiB, HOLD);
  auto t = Clock::now();
  // 2 MiB reads ending inside their object: the second piece always waits
  for (uint64_t k = 0; k < 12; ++k) {
    g.add(0, OS, k * OS, MiB, 0, t);
    g.add(0, OS, k * OS + MiB, MiB, 1, t);
    g.expire(t + HOLD);
    t += std::chrono::milliseconds(1);
  }
  CHECK(g.score() < 0);  // each join +1, each timeout -2: holding pays no more
}

TEST_CASE("short pieces matter only next to a held group or a full piece sent alone",
          "[read_gather]") {
  G g(MiB, HOLD);
  auto t = Clock::now();
  CHECK_FALSE(g.wants_short());
  CHECK(g.add(0, OS, 8 * MiB + 4096, 4096, 0, t).send.size() == 1);  // 4K: alone
  CHECK_FALSE(g.wants_short());
  CHECK(g.add(0, OS, 0, MiB, 1, t).send.empty());  // held
  CHECK(g.wants_short());
  CHECK(g.add(0, OS, MiB, 4096, 2, t).send.size() == 1);  // a short tail ends it
  CHECK(g.held() == 0);
  CHECK_FALSE(g.wants_short());
  // a full piece sent alone (nothing else under way): its short follower
  // is evidence for holding
  CHECK(g.add(0, OS, 2 * OS, MiB, 3, t, false).send.size() == 1);
  CHECK(g.wants_short());
  const int before = g.score();
  CHECK(g.add(0, OS, 2 * OS + MiB, 8192, 4, t).send.size() == 1);
  CHECK(g.score() == before + 1);
  CHECK_FALSE(g.wants_short());
}
