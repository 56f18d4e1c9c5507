// rbdfs: mounts a Ceph cluster's RBD images as files.
//
// Start-up order matters: librados starts threads, and threads do not
// survive fork(). So without -f we fork first; the child connects to the
// cluster, mounts, and only then tells the waiting parent "OK" through a
// pipe. Any failure before that is sent up the pipe instead, and the parent
// (the mount command) prints it and exits 1: a bad key or an unreachable
// cluster makes `mount` fail with the reason.
#include <fcntl.h>
#include <malloc.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "core/cluster.h"
#include "core/io_counters.h"
#include "core/memory_trim.h"
#include "fuse/filesystem.h"
#include "fuse/ops.h"
#include "fuse/options.h"
#include "fuse/uring.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

namespace {

using rbdfs::ll::Options;

int g_status_fd = -1;  // write end of the start-up pipe (daemon mode)

// Reports a start-up failure to whoever waits for us and exits.
[[noreturn]] void startup_failure(const std::string& msg) {
  if (g_status_fd >= 0) {
    std::string m = "ERR " + msg;
    (void)!::write(g_status_fd, m.data(), m.size());
    ::close(g_status_fd);
  } else {
    std::fprintf(stderr, "rbdfs: %s\n", msg.c_str());
  }
  std::_Exit(1);
}

void startup_success() {
  if (g_status_fd < 0) return;
  (void)!::write(g_status_fd, "OK", 2);
  ::close(g_status_fd);
  g_status_fd = -1;
  int null = ::open("/dev/null", O_RDWR);
  if (null >= 0) {
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    if (null > 2) ::close(null);
  }
}

// Parent side of daemonizing: wait for the child's verdict.
[[noreturn]] void wait_for_child(int fd) {
  std::string msg;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) msg.append(buf, static_cast<size_t>(n));
  if (msg == "OK") std::_Exit(0);
  if (msg.rfind("ERR ", 0) == 0)
    std::fprintf(stderr, "rbdfs: %s\n", msg.substr(4).c_str());
  else
    std::fprintf(stderr, "rbdfs: the daemon exited during start-up\n");
  std::_Exit(1);
}

void setup_logging(const Options& o, bool daemon) {
  std::shared_ptr<spdlog::logger> logger;
  if (!o.log_file.empty())
    logger = spdlog::basic_logger_mt("rbdfs", o.log_file);
  else if (daemon)
    logger = spdlog::syslog_logger_mt("rbdfs", "rbdfs", LOG_PID, LOG_DAEMON);
  else
    logger = spdlog::stderr_color_mt("rbdfs");
  logger->set_level(spdlog::level::from_str(o.log_level));
  if (!daemon || !o.log_file.empty())
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e rbdfs[%P] %l: %v");
  else
    logger->set_pattern("%l: %v");
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

// FUSE mounts get the kernel's default readahead (128 KiB): far too little
// for objects of 4 MiB over a network. Raise it on our mount's bdi (see
// READAHEAD_BYTES).
void raise_readahead(const std::string& mountpoint, unsigned kb) {
  char real[PATH_MAX];
  if (!::realpath(mountpoint.c_str(), real)) return;
  FILE* f = std::fopen("/proc/self/mountinfo", "r");
  if (!f) return;
  char line[4096];
  std::string dev;
  while (std::fgets(line, sizeof line, f)) {
    // id parent major:minor root mountpoint ...
    char majmin[64], root[PATH_MAX], mnt[PATH_MAX];
    if (std::sscanf(line, "%*s %*s %63s %4095s %4095s", majmin, root, mnt) == 3 &&
        std::strcmp(mnt, real) == 0 && std::strstr(line, " fuse.rbdfs "))
      dev = majmin;
  }
  std::fclose(f);
  if (dev.empty()) return;
  std::string path = "/sys/class/bdi/" + dev + "/read_ahead_kb";
  FILE* ra = std::fopen(path.c_str(), "w");
  if (!ra) {
    spdlog::debug("cannot raise readahead ({}): {}", path, std::strerror(errno));
    return;
  }
  std::fprintf(ra, "%u\n", kb);
  std::fclose(ra);
}

}  // namespace

int main(int argc, char** argv) {
  // glibc gives each busy thread its own heap arena (up to 8 per core) and
  // keeps what they free: with 64 FUSE workers copying 1 MiB writes that
  // grew RSS past 300 MiB under sequential writes. Two arenas held it
  // near 200 MiB at the same speed (measured, see README). The
  // environment (MALLOC_ARENA_MAX) still wins.
  if (!std::getenv("MALLOC_ARENA_MAX")) mallopt(M_ARENA_MAX, 2);
  Options opts;
  std::string error;
  if (!rbdfs::ll::parse_options(argc, argv, &opts, &error)) {
    std::fprintf(stderr, "rbdfs: %s\n(try rbdfs --help)\n", error.c_str());
    return 2;
  }
  if (opts.help) {
    std::fputs(rbdfs::ll::usage_text("rbdfs").c_str(), stdout);
    return 0;
  }
  if (opts.version) {
    std::printf("rbdfs %s (libfuse %d, FUSE API %d)\n", RBDFS_VERSION, fuse_version(),
                FUSE_USE_VERSION);
    return 0;
  }

  bool daemon = !opts.foreground;
  if (daemon) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      std::perror("rbdfs: pipe");
      return 1;
    }
    pid_t pid = ::fork();
    if (pid < 0) {
      std::perror("rbdfs: fork");
      return 1;
    }
    if (pid > 0) {
      ::close(fds[1]);
      wait_for_child(fds[0]);
    }
    ::close(fds[0]);
    g_status_fd = fds[1];
    ::setsid();
  }
  setup_logging(opts, daemon);

  // Connect before mounting, so that a bad key or an unreachable cluster
  // fails the mount with the reason.
  rbdfs::core::ClusterConfig cc;
  cc.conf = opts.conf;
  cc.cluster = opts.cluster;
  cc.id = opts.id;
  cc.name = opts.name;
  cc.keyring = opts.keyring;
  cc.mon_host = opts.mon_host;
  cc.connect_timeout = opts.connect_timeout;
  cc.writearound_bytes = uint64_t{opts.writearound_mb} << 20;
  std::string msg;
  auto cluster = rbdfs::core::Cluster::connect(cc, &msg);
  if (!cluster.ok()) startup_failure(msg);
  for (const auto& p : opts.pools) {
    auto id = (*cluster)->pool_id(p);
    if (!id.ok()) startup_failure("pool '" + p + "': " + id.err().message());
  }

  // A loop device on one of our files puts us in the block I/O path: ask
  // the kernel to let us allocate during reclaim instead of deadlocking.
  if (::prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) != 0)
    spdlog::debug("PR_SET_IO_FLUSHER not set: {}", std::strerror(errno));

  rbdfs::ll::Filesystem fs(*cluster, opts);
  fuse_lowlevel_ops ops = rbdfs::ll::make_operations();

  std::vector<std::string> fargs = {"rbdfs"};
  std::string o = "fsname=" + opts.source + ",subtype=rbdfs";
  for (const auto& f : opts.fuse_opts) o += "," + f;
  fargs.push_back("-o");
  fargs.push_back(o);
  if (opts.debug) fargs.push_back("-d");
  std::vector<char*> cargs;
  for (auto& a : fargs) cargs.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(cargs.size()), cargs.data());

  fuse_session* se = fuse_session_new(&args, &ops, sizeof ops, &fs);
  if (!se) startup_failure("bad FUSE options: " + o);
  fs.set_session(se);
  if (fuse_set_signal_handlers(se) != 0) startup_failure("cannot set signal handlers");
  if (fuse_session_mount(se, opts.mountpoint.c_str()) != 0)
    startup_failure("cannot mount on '" + opts.mountpoint + "'");
  spdlog::info("mounted cluster '{}' as {} on {}", opts.cluster, (*cluster)->client_name(),
               opts.mountpoint);
  raise_readahead(opts.mountpoint, rbdfs::ll::READAHEAD_BYTES >> 10);
  // before the loop reads INIT: its reply is where the ring is offered
  std::unique_ptr<rbdfs::ll::FuseRing> ring;
  if (opts.io_uring) ring = rbdfs::ll::FuseRing::install(se, opts.io_uring_depth);
  fs.set_requests_by_ring(ring != nullptr);
  startup_success();
  if (daemon) (void)!::chdir("/");

  // Hand glibc's retained free memory back after bursts (see
  // core/memory_trim.h): once idle for a second above 32 MiB, under load
  // above 3/4 of the 256 MiB the daemon states as its bound, and every
  // 10 s above 32 MiB; each again only after 16 MiB of regrowth.
  std::optional<rbdfs::core::MemoryTrimmer> trimmer;
  trimmer.emplace(
      rbdfs::core::TrimPolicy::Limits{32u << 20, 192u << 20, 16u << 20, 4, 40},
      std::chrono::milliseconds(250),
      [] { return rbdfs::core::io_counters().object_requests.load(std::memory_order_relaxed); });

  int ret;
  if (opts.single_thread) {
    ret = fuse_session_loop(se);
  } else {
    fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_max_threads(cfg, opts.max_threads);
    // Keep every worker once started: a worker costs a thread and its
    // request buffer, ending and restarting them costs CPU. (The churn
    // measured at 29 % of the machine's CPU, ~4,700 threads a second, came
    // from libfuse reading max_idle_threads as 0 under FUSE API 3.4; see
    // filesystem.h.)
    fuse_loop_cfg_set_idle_threads(cfg, opts.max_threads);
    ret = fuse_session_loop_mt(se, cfg);
    fuse_loop_cfg_destroy(cfg);
  }
  if (ring) ring->stop();        // what replies later is dropped: the kernel ended it
  trimmer.reset();               // before the exit paths below (one skips destructors)
  bool settled = fs.shutdown();  // nothing may use the session once it is gone
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  ring.reset();  // no reply can reach it now
  fuse_opt_free_args(&args);
  spdlog::info("unmounted {}", opts.mountpoint);
  if (!settled) {
    // every file is closed (the kernel released them at the unmount); a
    // thread still waits in librados for the monitors: leave without
    // tearing down what it uses
    spdlog::shutdown();
    _exit(ret == 0 ? 0 : 1);
  }
  return ret == 0 ? 0 : 1;
}
