// The lock description that names an rbdfs process (core/lock_owner_process.h):
// round trip, what is refused, the /proc/<pid>/stat parse, and the liveness
// rule against this process and a child that has exited.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <csignal>
#include <unistd.h>

#include <fstream>
#include <string>

#include "core/lock_owner_process.h"

using namespace rbdfs::core;

TEST_CASE("owner descriptions round-trip and refuse anything else", "[lock]") {
  OwnerProcess p{"5d2ad5c6-0a3e-4e65-a8c5-2c1b8b7f7a10", 4026531836ULL, 4026531834ULL, 4242,
                 987654};
  std::string d = describe_owner(p);
  CHECK(d ==
        "rbdfs boot=5d2ad5c6-0a3e-4e65-a8c5-2c1b8b7f7a10 pidns=4026531836 "
        "timens=4026531834 pid=4242 start=987654");
  REQUIRE(parse_owner(d));
  CHECK(*parse_owner(d) == p);
  CHECK_FALSE(parse_owner(""));  // librbd's and krbd's locks
  CHECK_FALSE(parse_owner("rbdfs "));
  CHECK_FALSE(parse_owner("rbdfs boot=x pidns=1 timens=0 pid=2"));                // no start
  CHECK_FALSE(parse_owner("rbdfs boot=x pidns=1 timens=0 pid=0 start=3"));        // pid 0
  CHECK_FALSE(parse_owner("rbdfs boot=x pidns=1 timens=0 pid=-5 start=3"));       // negative
  CHECK_FALSE(parse_owner("rbdfs boot=x pidns=1 timens=0 pid=2 start=3x"));       // junk
  CHECK_FALSE(parse_owner("rbdfs boot=x pidns=1 timens=0 pid=2 start=3 who=4"));  // unknown key
  CHECK_FALSE(parse_owner("rbdfs boot=x pidns=1 pid=2 start=3"));                 // no timens
  CHECK_FALSE(parse_owner("qemu boot=x pidns=1 timens=0 pid=2 start=3"));
}

TEST_CASE("state and start time from /proc/<pid>/stat, whatever the name holds", "[lock]") {
  std::string tail = " 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 424242 19 20";
  auto st = parse_proc_stat("77 (rbdfs) S" + tail);
  REQUIRE(st);
  CHECK(st->pid == 77);
  CHECK(st->state == 'S');
  CHECK(st->start == 424242u);
  st = parse_proc_stat("77 (a) Z (c) d) Z" + tail);
  REQUIRE(st);
  CHECK(st->state == 'Z');
  CHECK(st->start == 424242u);
  CHECK_FALSE(parse_proc_stat("77 (rbdfs) S 1 2 3"));
  CHECK_FALSE(parse_proc_stat("77 (rbdfs) SS" + tail));
  CHECK_FALSE(parse_proc_stat("no parenthesis at all"));
  CHECK_FALSE(parse_proc_stat("x7 (rbdfs) S" + tail));
}

TEST_CASE("liveness: this process is alive, an exited child is gone", "[lock]") {
  auto me = this_process();
  REQUIRE(me);
  CHECK(me->pid == getpid());
  CHECK_FALSE(owner_has_exited(*me));
  OwnerProcess restarted = *me;
  restarted.start += 1;  // our pid, another start: an earlier process with our pid
  CHECK(owner_has_exited(restarted));
  OwnerProcess elsewhere = *me;
  elsewhere.boot_id = "another-boot";
  elsewhere.start += 1;
  CHECK_FALSE(owner_has_exited(elsewhere));  // another machine: never judged
  OwnerProcess other_ns = *me;
  other_ns.pidns += 1;
  other_ns.start += 1;
  CHECK_FALSE(owner_has_exited(other_ns));
  OwnerProcess other_time = *me;
  other_time.timens += 1;
  other_time.start += 1;
  CHECK_FALSE(owner_has_exited(other_time));  // start times not comparable
  OwnerProcess init = *me;                    // pid 1 lives: only its start time can say
  init.pid = 1;
  std::ifstream f1("/proc/1/stat");
  std::string line1;
  std::getline(f1, line1);
  auto st1 = parse_proc_stat(line1);
  REQUIRE(st1);
  init.start = st1->start;
  CHECK_FALSE(owner_has_exited(init));

  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    alarm(30);  // never outlives a failed test
    pause();
    _exit(0);
  }
  std::ifstream f("/proc/" + std::to_string(child) + "/stat");
  std::string line;
  std::getline(f, line);
  auto st = parse_proc_stat(line);
  REQUIRE(st);
  OwnerProcess kid{me->boot_id, me->pidns, me->timens, child, st->start};
  CHECK_FALSE(owner_has_exited(kid));
  kill(child, SIGKILL);
  siginfo_t info{};
  // killed, not yet reaped: a zombie, exited already
  REQUIRE(waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT) == 0);
  CHECK(owner_has_exited(kid));
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(owner_has_exited(kid));
}
