#include "core/lock_owner_process.h"

#include <unistd.h>

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

// "pid:[4026531836]" -> 4026531836
std::optional<uint64_t> pidns_inode() {
  char buf[64];
  ssize_t n = readlink("/proc/self/ns/pid", buf, sizeof buf - 1);
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
  o << PREFIX << "boot=" << p.boot_id << " pidns=" << p.pidns << " pid=" << p.pid
    << " start=" << p.start;
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
    } else {
      return std::nullopt;
    }
  }
  if (seen != 15) return std::nullopt;
  return p;
}

std::optional<ProcStat> parse_proc_stat(std::string_view line) {
  // "pid (comm) state ppid ...": comm may hold spaces and ')', so count
  // from the last ')'; state is field 3, starttime field 22
  size_t close = line.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = line.substr(close + 1);
  ProcStat st;
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
  auto ns = pidns_inode();
  auto stat = read_line("/proc/self/stat");
  if (!boot || boot->empty() || !ns || !stat) return std::nullopt;
  auto st = parse_proc_stat(*stat);
  if (!st) return std::nullopt;
  return OwnerProcess{*boot, *ns, static_cast<int64_t>(getpid()), st->start};
}

bool owner_has_exited(const OwnerProcess& owner) {
  auto me = this_process();
  if (!me || me->boot_id != owner.boot_id || me->pidns != owner.pidns) return false;
  if (owner.pid == me->pid) return owner.start != me->start;
  auto stat = read_line("/proc/" + std::to_string(owner.pid) + "/stat");
  if (!stat) {
    // no such process, unless /proc itself failed us
    return access("/proc/self/stat", R_OK) == 0;
  }
  auto st = parse_proc_stat(*stat);
  return st && (st->start != owner.start || st->state == 'Z' || st->state == 'X');
}

}  // namespace rbdfs::core
