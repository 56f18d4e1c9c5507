#include "core/lock_owner_process.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

namespace rbdfs::core {

namespace {

constexpr std::string_view PREFIX = "rbdfs ";

template <typename T>
std::optional<T> number(std::string_view s) {
  T v{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<std::string> read_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  if (!f || !std::getline(f, line)) return std::nullopt;
  return line;
}

// "pid:[4026531836]" -> 4026531836, for /proc/self/ns/<kind>
std::optional<uint64_t> ns_inode(const char* kind) {
  char buf[64];
  std::string link = std::string("/proc/self/ns/") + kind;
  ssize_t n = readlink(link.c_str(), buf, sizeof buf - 1);
  if (n <= 0) return std::nullopt;
  std::string_view s(buf, static_cast<size_t>(n));
  auto open = s.find('['), close = s.rfind(']');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    return std::nullopt;
  return number<uint64_t>(s.substr(open + 1, close - open - 1));
}

}  // namespace

std::string describe_owner(const OwnerProcess& p) {
  std::ostringstream o;
  o << PREFIX << "boot=" << p.boot_id << " pidns=" << p.pidns << " timens=" << p.timens
    << " pid=" << p.pid << " start=" << p.start;
  return o.str();
}

std::optional<OwnerProcess> parse_owner(std::string_view d) {
  if (d.substr(0, PREFIX.size()) != PREFIX) return std::nullopt;
  d.remove_prefix(PREFIX.size());
  OwnerProcess p;
  int seen = 0;
  while (!d.empty()) {
    size_t sp = d.find(' ');
    std::string_view field = d.substr(0, sp);
    d = sp == std::string_view::npos ? std::string_view() : d.substr(sp + 1);
    size_t eq = field.find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    std::string_view key = field.substr(0, eq), val = field.substr(eq + 1);
    if (key == "boot" && !val.empty()) {
      p.boot_id = std::string(val);
      seen |= 1;
    } else if (key == "pidns" && number<uint64_t>(val)) {
      p.pidns = *number<uint64_t>(val);
      seen |= 2;
    } else if (key == "pid" && number<int64_t>(val) && *number<int64_t>(val) > 0) {
      p.pid = *number<int64_t>(val);
      seen |= 4;
    } else if (key == "start" && number<uint64_t>(val)) {
      p.start = *number<uint64_t>(val);
      seen |= 8;
    } else if (key == "timens" && number<uint64_t>(val)) {
      p.timens = *number<uint64_t>(val);
      seen |= 16;
    } else {
      return std::nullopt;
    }
  }
  if (seen != 31) return std::nullopt;
  return p;
}

std::optional<ProcStat> parse_proc_stat(std::string_view line) {
  // "pid (comm) state ppid ...": comm may hold spaces and ')', so count
  // from the last ')'; state is field 3, starttime field 22
  size_t close = line.rfind(')');
  size_t open = line.find(" (");
  if (close == std::string_view::npos || open == std::string_view::npos || open > close)
    return std::nullopt;
  ProcStat st;
  auto pid = number<int64_t>(line.substr(0, open));
  if (!pid) return std::nullopt;
  st.pid = *pid;
  std::string_view rest = line.substr(close + 1);
  int field = 2;
  while (!rest.empty()) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.empty()) break;
    size_t sp = rest.find(' ');
    std::string_view tok = rest.substr(0, sp);
    ++field;
    if (field == 3) {
      if (tok.size() != 1) return std::nullopt;
      st.state = tok.front();
    } else if (field == 22) {
      auto start = number<uint64_t>(tok);
      if (!start) return std::nullopt;
      st.start = *start;
      return st;
    }
    rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp);
  }
  return std::nullopt;
}

std::optional<OwnerProcess> this_process() {
  auto boot = read_line("/proc/sys/kernel/random/boot_id");
  auto ns = ns_inode("pid");
  auto stat = read_line("/proc/self/stat");
  if (!boot || boot->empty() || !ns || !stat) return std::nullopt;
  auto st = parse_proc_stat(*stat);
  // a /proc of another pid namespace (unshare -p without its own /proc)
  // numbers processes otherwise: then nothing can be judged through it
  if (!st || st->pid != getpid()) return std::nullopt;
  // start times are shifted by the reader's time namespace (Linux 5.6+;
  // none before: 0 on both sides)
  uint64_t timens = ns_inode("time").value_or(0);
  return OwnerProcess{*boot, *ns, timens, static_cast<int64_t>(getpid()), st->start};
}

bool owner_has_exited(const OwnerProcess& owner) {
  auto me = this_process();
  if (!me || me->boot_id != owner.boot_id || me->pidns != owner.pidns || me->timens != owner.timens)
    return false;
  if (owner.pid == me->pid) return owner.start != me->start;
  if (owner.pid > 0 && kill(static_cast<pid_t>(owner.pid), 0) < 0 && errno == ESRCH)
    return true;  // no such process in our pid namespace
  // It exists (or we may not signal it): gone only if /proc shows another
  // process under that pid, or a zombie. Anything unreadable: alive.
  auto stat = read_line("/proc/" + std::to_string(owner.pid) + "/stat");
  if (!stat) return false;
  auto st = parse_proc_stat(*stat);
  if (!st || st->pid != owner.pid) return false;
  return st->start != owner.start || st->state == 'Z' || st->state == 'X';
}

}  // namespace rbdfs::core
