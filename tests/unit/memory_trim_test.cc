// Memory trimming's decision (core/memory_trim.h): under load only past the
// busy limit, idle past the idle limit, and again only after regrowth.
#include <catch2/catch.hpp>

#include "core/memory_trim.h"

using namespace rbdfs::core;

namespace {

constexpr uint64_t MiB = 1 << 20;
const TrimPolicy::Limits LIMITS{32 * MiB, 192 * MiB, 16 * MiB, 4, 40};

}  // namespace

TEST_CASE("under load, a trim only past the busy limit and after regrowth", "[memory_trim]") {
  TrimPolicy p(LIMITS);
  uint64_t requests = 0;
  CHECK_FALSE(p.tick(100 * MiB, requests += 10));
  CHECK_FALSE(p.tick(192 * MiB, requests += 10));
  CHECK(p.tick(193 * MiB, requests += 10));
  p.trimmed(120 * MiB);
  CHECK_FALSE(p.tick(150 * MiB, requests += 1));
  CHECK(p.tick(200 * MiB, requests += 1));  // past the limit, 80 MiB regained
  p.trimmed(199 * MiB);                     // all of it in use
  CHECK_FALSE(p.tick(205 * MiB, requests += 1));
  CHECK_FALSE(p.tick(215 * MiB, requests += 1));
  CHECK(p.tick(216 * MiB, requests += 1));
}

TEST_CASE("idle, a trim once the spell has lasted, again only after regrowth", "[memory_trim]") {
  TrimPolicy p(LIMITS);
  CHECK_FALSE(p.tick(150 * MiB, 7));  // the first tick sees the requests so far
  CHECK_FALSE(p.tick(150 * MiB, 7));
  CHECK_FALSE(p.tick(150 * MiB, 7));
  CHECK_FALSE(p.tick(150 * MiB, 7));
  CHECK(p.tick(150 * MiB, 7));  // four quiet ticks
  p.trimmed(40 * MiB);
  for (int i = 0; i < 20; ++i) CHECK_FALSE(p.tick(40 * MiB, 7));
  CHECK_FALSE(p.tick(56 * MiB, 7));
  CHECK(p.tick(57 * MiB, 7));  // metadata work (no object requests) grew it
  p.trimmed(45 * MiB);
  CHECK_FALSE(p.tick(150 * MiB, 8));  // load again: the busy limit holds
  p.trimmed(150 * MiB);               // (as if a trim had left it all)
  for (int i = 0; i < 3; ++i) CHECK_FALSE(p.tick(150 * MiB, 8));
  CHECK(p.tick(150 * MiB, 8));  // a new idle spell forgets what was left
}

TEST_CASE("steady light load: the idle limit holds every so many ticks", "[memory_trim]") {
  TrimPolicy p(LIMITS);
  uint64_t requests = 0;
  // a request every other tick: never four quiet ticks in a row
  for (uint64_t i = 0; i < 39; ++i) CHECK_FALSE(p.tick(150 * MiB, requests += i % 2));
  CHECK(p.tick(150 * MiB, requests += 1));  // the 40th tick
  p.trimmed(60 * MiB);
  for (uint64_t i = 0; i < 39; ++i) CHECK_FALSE(p.tick(150 * MiB, requests += i % 2));
  CHECK(p.tick(150 * MiB, requests += 1));
  p.trimmed(140 * MiB);  // all of it in use: not again before 16 MiB more
  for (uint64_t i = 0; i < 100; ++i) CHECK_FALSE(p.tick(150 * MiB, requests += i % 2));
  CHECK(p.tick(157 * MiB, requests += 1));
}

TEST_CASE("idle below the idle limit: no trim", "[memory_trim]") {
  TrimPolicy p(LIMITS);
  for (int i = 0; i < 10; ++i) CHECK_FALSE(p.tick(32 * MiB, 3));
  CHECK(p.tick(33 * MiB, 3));
}
