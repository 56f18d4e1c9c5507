// The oracle: the rbd CLI (export, info).
#pragma once

#include "tools/exercise/common.h"

namespace rbdfs::exercise {

struct RbdCli {
  std::string conf, id;

  std::string command(const std::string& args) const {
    std::string c = "rbd";
    if (!conf.empty()) c += " -c " + shell_quote(conf);
    if (!id.empty()) c += " --id " + shell_quote(id);
    return c + " " + args;
  }
  static void close_pipe(FILE* f, const std::string& cmd) {
    int st = ::pclose(f);
    if (st == -1) sys_fail("pclose(" + cmd + ")", errno);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
      throw Failure{"`" + cmd + "` failed (wait status " + std::to_string(st) + ")", ""};
  }
  // What `rbd ARGS` prints (with `merge`, stderr as well); a Failure when
  // it fails.
  std::string run(const std::string& args, bool merge = false) const {
    std::string cmd = command(args) + (merge ? " 2>&1" : "");
    FILE* f = ::popen(cmd.c_str(), "r");
    if (!f) sys_fail("popen(" + cmd + ")", errno);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    try {
      close_pipe(f, cmd);
    } catch (Failure& e) {
      e.detail += "  output: " + out + "\n";
      throw;
    }
    return out;
  }
  // The JSON array after "key": in `rbd info --format json` (as text).
  static std::string json_list(const std::string& info, const std::string& key) {
    auto at = info.find("\"" + key + "\":");
    if (at == std::string::npos) return "";
    auto open = info.find('[', at), close = info.find(']', at);
    if (open == std::string::npos || close == std::string::npos) return "";
    return info.substr(open, close - open + 1);
  }
  // The size from `rbd info --format json`, parsed here.
  uint64_t info_size(const std::string& spec) const {
    std::string out = run("info --format json " + shell_quote(spec));
    std::string cmd = "rbd info " + spec;
    auto at = out.find("\"size\":");
    if (at == std::string::npos) throw Failure{"no \"size\" in `" + cmd + "`: " + out, ""};
    at += 7;
    while (at < out.size() && out[at] == ' ') ++at;
    uint64_t v = 0;
    size_t digits = 0;
    for (; at < out.size() && out[at] >= '0' && out[at] <= '9'; ++at, ++digits)
      v = v * 10 + static_cast<uint64_t>(out[at] - '0');
    if (!digits) throw Failure{"unreadable \"size\" in `" + cmd + "`: " + out, ""};
    return v;
  }
};

}  // namespace rbdfs::exercise
