// Which process holds an image's exclusive lock, when that process is an
// rbdfs on this machine. rbdfs writes a description into the cls lock it
// takes on the header (a free-form field; librbd and krbd leave it empty and
// never read it):
//
//   "rbdfs boot=<kernel boot_id> pidns=<inode> timens=<inode> pid=<pid> start=<start time>"
//
// An rbdfs killed while it holds a lock leaves its header watch behind until
// the OSD times it out (osd_client_watch_timeout, 30 s), and until then every
// peer must take it for alive. A later rbdfs on the same machine, in the same
// pid and time namespaces (a remount after a crash), reads the description,
// sees that no process with that pid and start time exists any more, and
// breaks the lock at once (blocklisting the dead instance first, as for any
// dead owner). Anything else (another machine, another namespace, no
// description, a /proc it cannot read) keeps the watch-based rule: a live
// owner must never be taken for dead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rbdfs::core {

struct OwnerProcess {
  std::string boot_id;  // /proc/sys/kernel/random/boot_id
  uint64_t pidns = 0;   // inode of /proc/self/ns/pid
  uint64_t timens = 0;  // inode of /proc/self/ns/time (0: a kernel without)
  int64_t pid = 0;
  uint64_t start = 0;  // field 22 of /proc/<pid>/stat (clock ticks since boot)
  bool operator==(const OwnerProcess&) const = default;
};

// The lock description, and back (nullopt: not one of ours). Pure.
std::string describe_owner(const OwnerProcess& p);
std::optional<OwnerProcess> parse_owner(std::string_view description);

// Fields 1 (pid), 3 (state) and 22 (starttime) of a /proc/<pid>/stat line. Pure.
struct ProcStat {
  int64_t pid = 0;   // field 1
  char state = '?';  // 'Z' (zombie) and 'X' (dead) have exited
  uint64_t start = 0;
};
std::optional<ProcStat> parse_proc_stat(std::string_view stat_line);

// This process (nullopt if /proc cannot say).
std::optional<OwnerProcess> this_process();

// True only when `owner` is certainly gone: same boot, pid and time
// namespaces as this process, and kill(pid, 0) finds no such process, or
// /proc shows that pid with another start time or as a zombie (killed, not
// yet reaped). An unreadable /proc says alive.
bool owner_has_exited(const OwnerProcess& owner);

}  // namespace rbdfs::core
