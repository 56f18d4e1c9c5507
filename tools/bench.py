#!/usr/bin/python3
"""The rbdfs benchmark: rbdfs vs librbd vs qemu-storage-daemon's FUSE export
vs rbd-fuse on one cluster, one run.

Called by tools/bench (which builds rbdfs first). Every figure is the median
of --runs runs (default 3) and is shown with its spread (min-max). Stops
what it started: the mounts, and the cluster when it started one.
"""
import argparse, json, os, platform, shutil, signal, statistics, subprocess, sys, tempfile, threading, time

from bench_report import plot, report

# The memory bound rbdfs states for its default options (README, rbdfs.8):
# 64 MiB write-around + up to 64 FUSE workers' 1 MiB request buffers + up to
# 64 MiB of writes in flight + librados and caches.
RSS_BOUND_MIB = 256

def bound_verdict(mib):
    return "holds" if mib <= RSS_BOUND_MIB else "EXCEEDED"

def sh(cmd, check=True, capture=False, env=None, timeout=None):
    r = subprocess.run(cmd, shell=isinstance(cmd, str), check=False, env=env, timeout=timeout,
                       stdout=subprocess.PIPE if capture else None,
                       stderr=subprocess.PIPE if capture else None, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s" % (r.returncode, cmd, r.stderr if capture else ""))
    return r

def find_daemon(binary, mountpoint):
    """pid of the rbdfs process serving mountpoint"""
    exe = os.path.realpath(binary)
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.path.realpath("/proc/%s/exe" % pid) != exe:
                continue
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if mountpoint.encode() in f.read().split(b"\0"):
                    return int(pid)
        except OSError:
            continue
    raise RuntimeError("no rbdfs process for " + mountpoint)

class Bench:
    def __init__(self, a):
        self.a = a
        self.tmp = tempfile.mkdtemp(prefix="rbdfs-bench.")
        self.mounts = []
        self.cluster_dir = None
        self.results = {}   # row -> {target: [values]}
        self.units = {}
        self.notes = []
        self.failures = {}  # row -> {target: what went wrong}
        self.rbdfs_pid = None
        self.qsd = {}       # exported file -> qemu-storage-daemon pid
        self.io_uring = False  # the kernel's FUSE over io_uring is on for the run
        self.uring_was = None  # the kernel's enable_uring before the run
        self.ring = {}      # row -> IOPS or MB/s of rbdfs over io_uring, same run

    # ---- setup / teardown
    URING_PARAM = "/sys/module/fuse/parameters/enable_uring"

    def enable_uring(self):
        """Where the kernel has FUSE over io_uring, the fio rows also run on
        a second rbdfs mount that takes its requests that way (--io-uring):
        the fuse module's switch is turned on for the run and back after.
        rbdfs' own column is its default transport, /dev/fuse."""
        if self.a.io_uring == "off":
            return
        if not os.access(self.URING_PARAM, os.W_OK):
            if self.a.io_uring == "on":
                raise RuntimeError(self.URING_PARAM + " is missing or not writable: no FUSE over io_uring")
            self.notes.append("no FUSE over io_uring here (%s is missing or not writable)"
                              % self.URING_PARAM)
            return
        with open(self.URING_PARAM) as f:
            self.uring_was = f.read().strip()
        with open(self.URING_PARAM, "w") as f:
            f.write("Y")
        self.io_uring = True

    def start(self):
        self.enable_uring()
        if self.a.conf:
            self.conf = self.a.conf
        else:
            self.cluster_dir = os.path.join(self.a.repo, "build", "bench-cluster")
            out = sh([os.path.join(self.a.repo, "tools", "ceph-cluster"), "start", "--dir", self.cluster_dir,
                      "--addr", "127.0.0.4", "--store", "bluestore"], capture=True)
            self.conf = out.stdout.strip().splitlines()[-1]
        self.env = dict(os.environ, CEPH_CONF=self.conf)
        self.pool = "bench"
        self.many = "bench-many"
        for p in (self.pool, self.many):
            sh("ceph osd pool create %s 16 >/dev/null 2>&1; rbd pool init %s" % (p, p), env=self.env)

    def stop(self):
        for f in list(self.qsd):
            self.stop_qsd(f)
        for m in reversed(self.mounts):
            sh(["fusermount3", "-u", m], check=False, capture=True)
        if self.cluster_dir and not self.a.keep_cluster:
            sh([os.path.join(self.a.repo, "tools", "ceph-cluster"), "wipe", "--dir", self.cluster_dir],
               check=False, capture=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.uring_was is not None:
            with open(self.URING_PARAM, "w") as f:
                f.write(self.uring_was)
            self.uring_was = None

    def mount_rbdfs(self, pools, name="rbdfs", ring=False):
        """ring: over io_uring (--io-uring)"""
        m = os.path.join(self.tmp, name)
        os.makedirs(m, exist_ok=True)
        args = [self.a.rbdfs, "ceph", m, "-c", self.conf, "--id", "admin"]
        for p in pools:
            args += ["-p", p]
        sh(args + (["--io-uring"] if ring else []))
        self.mounts.append(m)
        how = sh(["getfattr", "--absolute-names", "--only-values", "-n", "user.rbdfs.fuse", m],
                 capture=True, check=False).stdout
        if ring and not how.startswith("transport=io_uring ") and self.a.io_uring == "auto":
            # the kernel refused the ring: no io_uring rows
            self.notes.append("the kernel refused FUSE over io_uring (%s)" % how)
            self.io_uring = False
            return None
        want = "transport=" + ("io_uring" if ring else "dev_fuse")
        if not how.startswith(want + " "):
            raise RuntimeError("rbdfs on %s: user.rbdfs.fuse is %r, expected %s" % (m, how, want))
        if name == "rbdfs":
            self.rbdfs_pid = find_daemon(self.a.rbdfs, m)
        return m

    def mount_rbdfuse(self, pool, name):
        m = os.path.join(self.tmp, name)
        os.makedirs(m, exist_ok=True)
        sh(["rbd-fuse", "-c", self.conf, "-p", pool, m])
        self.mounts.append(m)
        return m

    def start_qsd(self, image):
        """qemu-storage-daemon exporting pool/image through FUSE as a file,
        over qemu's rbd driver (librbd), no cache: the same kernel FUSE path
        as rbdfs, librbd behind it"""
        f = os.path.join(self.tmp, "qsd-" + image)
        open(f, "w").close()
        pidfile = f + ".pid"
        sh(["qemu-storage-daemon", "--blockdev",
            "driver=rbd,node-name=disk,pool=%s,image=%s,conf=%s,user=admin,cache.direct=on"
            % (self.pool, image, self.conf),
            "--export", "type=fuse,id=exp,node-name=disk,mountpoint=%s,writable=on" % f,
            "--pidfile", pidfile, "--daemonize"], env=self.env)
        with open(pidfile) as p:
            self.qsd[f] = int(p.read().strip())
        return f

    def stop_qsd(self, f):
        pid = self.qsd.pop(f, None)
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)  # it unmounts its export and exits
                for _ in range(100):
                    os.kill(pid, 0)
                    time.sleep(0.1)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # a killed export leaves a dead FUSE mount (stat fails: ismount says no)
        with open("/proc/self/mounts") as mounts:
            if any(line.split()[1] == f for line in mounts):
                sh(["fusermount3", "-uz", f], check=False, capture=True)
        for leftover in (f, f + ".pid"):
            if os.path.exists(leftover) and not os.path.ismount(leftover):
                os.unlink(leftover)

    def umount(self, m):
        sh(["fusermount3", "-u", m], check=False, capture=True)
        if m in self.mounts:
            self.mounts.remove(m)

    def fill(self, image):
        """write every byte of an image through librbd, so reads hit real objects"""
        sh(["fio", "--name=fill", "--ioengine=rbd", "--clientname=admin", "--pool=" + self.pool,
            "--rbdname=" + image, "--rw=write", "--bs=4M", "--iodepth=16",
            "--size=%dM" % self.a.size_mb, "--output-format=terse"], capture=True, env=self.env)

    # ---- measurement helpers
    def add(self, row, target, value, unit):
        self.results.setdefault(row, {}).setdefault(target, []).append(value)
        self.units[row] = unit

    def settle(self, quiet=0.15, longest=None):
        """wait until the machine is quiet (both cores under `quiet` busy for
        two samples in a row, time waiting for the disk counted as busy): the
        OSD finishes the deletes, compaction and deferred writes the previous
        run left, so no target pays for its predecessor"""
        longest = self.a.settle_secs if longest is None else longest
        if longest <= 0:
            return
        def busy_idle():
            with open("/proc/stat") as f:
                v = [int(x) for x in f.readline().split()[1:]]
            return sum(v) - v[3], v[3]
        end, calm = time.monotonic() + longest, 0
        b0, i0 = busy_idle()
        while calm < 2 and time.monotonic() < end:
            time.sleep(0.25)
            b1, i1 = busy_idle()
            total = (b1 - b0) + (i1 - i0)
            calm = calm + 1 if total and (b1 - b0) / total < quiet else 0
            b0, i0 = b1, i1

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.rbdfs_pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def status_mib(self, field):
        """a kB field of the rbdfs process' /proc status (VmRSS, VmHWM), in MiB"""
        with open("/proc/%d/status" % self.rbdfs_pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
        return 0.0

    def rss_mb(self):
        return self.status_mib("VmRSS")

    def peak_rss_mb(self):
        return self.status_mib("VmHWM")

    def fio(self, target, spec, extra, timed=True):
        rw, bs, qd = spec
        args = ["fio", "--name=b", "--rw=" + rw, "--bs=" + bs, "--iodepth=%d" % qd,
                "--output-format=json", "--size=%dM" % self.a.size_mb, "--randrepeat=0"] + extra
        if timed:
            args += ["--runtime=%d" % self.a.runtime, "--time_based", "--ramp_time=1"]
        r = sh(args, capture=True, env=self.env, timeout=self.a.runtime * 10 + 120)
        j = json.loads(r.stdout[r.stdout.index("{"):])
        job = j["jobs"][0]
        side = job["read"] if "read" in rw else job["write"]
        if job.get("error"):
            raise RuntimeError("fio error %s on %s" % (job["error"], target))
        return side["bw_bytes"] / 1e6, side["iops"], side["io_bytes"]

    # ---- the benchmark
    def run(self):
        size = self.a.size_mb
        names = {"rbdfs": "img-rbdfs", "librbd": "img-librbd", "qsd-fuse": "img-qsd",
                 "rbd-fuse": "img-rbdfuse"}
        for n in names.values():
            sh("rbd rm %s/%s >/dev/null 2>&1; rbd create --size %dM --image-feature layering %s/%s"
               % (self.pool, n, size, self.pool, n), env=self.env)
        m = self.mount_rbdfs([self.pool, self.many])
        fm = self.mount_rbdfuse(self.pool, "rbdfuse")
        files = {"rbdfs": os.path.join(m, self.pool, names["rbdfs"]),
                 "rbd-fuse": os.path.join(fm, names["rbd-fuse"])}
        # the transport's share: rbdfs over io_uring too, a second mount of
        # the same image taking its turn beside the others
        if self.io_uring:
            rm = self.mount_rbdfs([self.pool], "rbdfs-io_uring", ring=True)
            if rm:
                files["rbdfs io_uring"] = os.path.join(rm, self.pool, names["rbdfs"])
        # fill every twin once, so reads hit real objects
        for t in ("rbdfs", "rbd-fuse"):
            sh(["dd", "if=/dev/zero", "of=" + files[t], "bs=4M", "count=%d" % (size // 4),
                "oflag=direct", "conv=notrunc", "status=none"])
        for t in ("librbd", "qsd-fuse"):
            self.fill(names[t])
        files["qsd-fuse"] = self.start_qsd(names["qsd-fuse"])

        specs = [("seq write 4M qd16", ("write", "4M", 16)), ("seq read 4M qd16", ("read", "4M", 16)),
                 ("rand write 4K qd32", ("randwrite", "4k", 32)), ("rand read 4K qd32", ("randread", "4k", 32)),
                 ("rand write 4K qd1", ("randwrite", "4k", 1)), ("rand read 4K qd1", ("randread", "4k", 1))]
        cpu_bytes, cpu_secs = 0, 0.0
        for run in range(self.a.runs):
            for row, spec in specs:
                for t in ("librbd", "rbdfs", "rbdfs io_uring", "qsd-fuse", "rbd-fuse"):
                    if t not in files and t != "librbd":
                        continue
                    if t == "librbd":
                        extra = ["--ioengine=rbd", "--clientname=admin", "--pool=" + self.pool,
                                 "--rbdname=" + names[t]]
                    else:
                        extra = ["--ioengine=libaio", "--direct=1", "--filename=" + files[t]]
                    c0 = self.cpu_seconds() if t == "rbdfs" else 0
                    mbs, iops, nbytes = self.fio(t, spec, extra)
                    if t == "rbdfs" and spec[1] == "4M":
                        cpu_secs += self.cpu_seconds() - c0
                        cpu_bytes += nbytes
                    v = mbs if spec[1] == "4M" else iops
                    if t == "rbdfs io_uring":
                        self.ring.setdefault(row, []).append(v)
                    else:
                        self.add(row, t, v, "MB/s" if spec[1] == "4M" else "IOPS")
                    print("  run %d %-20s %-15s %10.1f %s" % (run + 1, row, t, v,
                          "MB/s" if spec[1] == "4M" else "IOPS"), flush=True)
        if self.ring:
            parts = []
            for row, v in self.ring.items():
                lib = self.results.get(row, {}).get("librbd")
                mine = self.results.get(row, {}).get("rbdfs")
                if lib and mine:
                    parts.append("%s %.0f (%.2fx librbd; /dev/fuse %.2fx)" % (
                        row, statistics.median(v), statistics.median(v) / statistics.median(lib),
                        statistics.median(mine) / statistics.median(lib)))
            self.notes.append("rbdfs over FUSE io_uring (--io-uring), a second mount of the same "
                              "image, the same rows in the same run: "
                              + "; ".join(parts))
        if cpu_bytes:
            self.notes.append("rbdfs CPU (user+sys) per GiB moved, sequential 4M: %.2f s/GiB"
                              % (cpu_secs / (cpu_bytes / 2**30)))

        # the same writes on images with Pacific's default features
        # (exclusive lock, object map, fast-diff): rbdfs takes the lock and
        # keeps the map; the librbd column does the same through librbd
        dnames = {"rbdfs": "img-rbdfs-deflt", "librbd": "img-librbd-deflt", "qsd-fuse": "img-qsd-deflt"}
        for n in dnames.values():
            sh("rbd rm %s/%s >/dev/null 2>&1; rbd create --size %dM %s/%s"
               % (self.pool, n, size, self.pool, n), env=self.env)
        dfile = os.path.join(m, self.pool, dnames["rbdfs"])
        # filled like the layering-only twins, so both measure the same
        # workload (writes to objects that exist); the first writes to a
        # fresh default-feature image are the cp/qemu-img rows below
        sh(["dd", "if=/dev/zero", "of=" + dfile, "bs=4M", "count=%d" % (size // 4),
            "oflag=direct", "conv=notrunc", "status=none"])
        for t in ("librbd", "qsd-fuse"):
            self.fill(dnames[t])
        qsd_dfile = self.start_qsd(dnames["qsd-fuse"])
        dspecs = [("seq write 4M qd16 [default features]", ("write", "4M", 16)),
                  ("rand write 4K qd32 [default features]", ("randwrite", "4k", 32))]
        # rbdfs on its layering-only twin again, right before or after each
        # default-feature run (alternating): the ratio of the two is what the
        # lock and the object map cost, without the drift of a whole run between
        # (--pairs of them: one pair's ratio swings by 10-20 % on this
        # machine; the peers run --runs times as on every row)
        self.paired = {}
        for run in range(max(self.a.runs, self.a.pairs)):
            peers = run < self.a.runs
            for row, spec in dspecs:
                order = ("rbdfs", "rbdfs-layering") if run % 2 == 0 else ("rbdfs-layering", "rbdfs")
                for t in (("librbd",) if peers else ()) + order + (("qsd-fuse",) if peers else ()):
                    if t == "librbd":
                        extra = ["--ioengine=rbd", "--clientname=admin", "--pool=" + self.pool,
                                 "--rbdname=" + dnames[t]]
                    elif t == "qsd-fuse":
                        extra = ["--ioengine=libaio", "--direct=1", "--filename=" + qsd_dfile]
                    else:
                        extra = ["--ioengine=libaio", "--direct=1",
                                 "--filename=" + (dfile if t == "rbdfs" else files["rbdfs"])]
                    mbs, iops, _ = self.fio(t, spec, extra)
                    v = mbs if spec[1] == "4M" else iops
                    if t == "rbdfs-layering":
                        self.paired.setdefault(row, []).append(v)
                    else:
                        self.add(row, t, v, "MB/s" if spec[1] == "4M" else "IOPS")
                    print("  run %d %-40s %-14s %10.1f %s" % (run + 1, row, t, v, self.units[row]), flush=True)
            drow = "dd write 4M buffered+fsync [default features]"
            for f in ((dfile, files["rbdfs"]) if run % 2 == 0 else (files["rbdfs"], dfile)):
                self.settle()  # as for the layering-only dd row: no leftover OSD work
                t0 = time.monotonic()
                sh(["dd", "if=/dev/zero", "of=" + f, "bs=4M", "count=%d" % (size // 4),
                    "conv=fsync,notrunc", "status=none"])
                v = size * 2**20 / 1e6 / (time.monotonic() - t0)
                if f == dfile:
                    self.add(drow, "rbdfs", v, "MB/s")
                else:
                    self.paired.setdefault(drow, []).append(v)
        self.results["dd write 4M buffered+fsync [default features]"]["librbd"] = list(
            self.results["seq write 4M qd16 [default features]"]["librbd"])
        self.default_feature_rows = [("seq write 4M qd16 [default features]", "seq write 4M qd16"),
                                     ("rand write 4K qd32 [default features]", "rand write 4K qd32"),
                                     ("dd write 4M buffered+fsync [default features]",
                                      "dd write 4M buffered+fsync")]
        self.stop_qsd(qsd_dfile)
        for n in dnames.values():
            sh("rbd rm --no-progress %s/%s >/dev/null 2>&1" % (self.pool, n), check=False, env=self.env)

        # clones of a filled image's snapshot: 4K random reads of an untouched
        # clone (every read goes to the parent) and 4K writes that each copy
        # an object up (one at the start of every object, on a fresh clone
        # each run: 4 MiB of the parent read and written per write), rbdfs
        # against librbd on a twin clone
        par = "img-parent"
        sh("rbd snap purge %s/%s >/dev/null 2>&1; rbd rm %s/%s >/dev/null 2>&1; "
           "rbd create --size %dM --image-feature layering %s/%s"
           % (self.pool, par, self.pool, par, size, self.pool, par), env=self.env)
        sh(["fio", "--name=fill", "--ioengine=rbd", "--clientname=admin", "--pool=" + self.pool,
            "--rbdname=" + par, "--rw=write", "--bs=4M", "--iodepth=16",
            "--size=%dM" % size, "--output-format=terse"], capture=True, env=self.env)
        sh("rbd snap create %s/%s@s >/dev/null" % (self.pool, par), env=self.env)
        clones = []

        def clone(name):
            sh("rbd rm %s/%s >/dev/null 2>&1; rbd clone --rbd-default-clone-format 2 %s/%s@s %s/%s"
               % (self.pool, name, self.pool, par, self.pool, name), env=self.env)
            clones.append(name)
            return name
        rrow, wrow = "clone rand read 4K qd32 (from the parent)", "clone write 4K qd32 (a copy-up each)"
        reader = {"rbdfs": clone("clone-rbdfs-r"), "librbd": clone("clone-librbd-r"),
                  "qsd-fuse": clone("clone-qsd-r")}
        qsd_reader = self.start_qsd(reader["qsd-fuse"])
        nobj = size // 4
        ctargets = ["librbd", "rbdfs", "qsd-fuse"]
        for run in range(self.a.runs):
            for t in ctargets[run % 3:] + ctargets[:run % 3]:
                if t == "librbd":
                    extra = ["--ioengine=rbd", "--clientname=admin", "--pool=" + self.pool]
                else:
                    extra = ["--ioengine=libaio", "--direct=1"]
                exported = {}
                def target(n):
                    if t == "librbd":
                        return ["--rbdname=" + n]
                    if t == "qsd-fuse":
                        if n not in exported:
                            exported[n] = qsd_reader if n == reader[t] else self.start_qsd(n)
                        return ["--filename=" + exported[n]]
                    return ["--filename=" + os.path.join(m, self.pool, n)]
                _, iops, _ = self.fio(t, ("randread", "4k", 32), extra + target(reader[t]))
                self.add(rrow, t, iops, "IOPS")
                w = clone("clone-%s-w%d" % (t.replace("-", ""), run))
                wtarget = target(w)
                self.settle()
                # 4K at the start of every object (a 4 MiB - 4K hole after
                # each write): one copy-up per write, none repeated; timed to
                # the end of a flush (librbd's write-around acknowledges the
                # writes before their copy-ups land: 40000 IOPS unflushed)
                _, iops, _ = self.fio(t, ("write:%d" % ((4 << 20) - 4096), "4k", 32),
                                      extra + wtarget + ["--number_ios=%d" % nobj, "--end_fsync=1"],
                                      timed=False)
                self.add(wrow, t, iops, "IOPS")
                if w in exported:
                    self.stop_qsd(exported[w])
                print("  run %d clone rows %-9s read %8.0f IOPS, copy-up writes %6.0f IOPS"
                      % (run + 1, t, self.results[rrow][t][-1], iops), flush=True)
        self.notes.append("clone rows: twin v2 clones of one filled snapshot (layering); the read row "
                          "reads an untouched clone, every read from the parent; the copy-up row "
                          "writes 4K at the start of every object of a fresh clone, timed to the end "
                          "of a flush (librbd acknowledges before its copy-ups land)")
        self.stop_qsd(qsd_reader)
        for n in clones:
            sh("rbd rm --no-progress %s/%s >/dev/null 2>&1" % (self.pool, n), check=False, env=self.env)
        sh("rbd snap purge %s/%s >/dev/null 2>&1; rbd rm --no-progress %s/%s >/dev/null 2>&1"
           % (self.pool, par, self.pool, par), check=False, env=self.env)

        # buffered dd write with fsync, and cold cp read, through each mount
        dd_mb = size
        for run in range(self.a.runs):
            for t in ("rbdfs", "qsd-fuse", "rbd-fuse"):
                self.settle()
                t0 = time.monotonic()
                sh(["dd", "if=/dev/zero", "of=" + files[t], "bs=4M", "count=%d" % (dd_mb // 4),
                    "conv=fsync,notrunc", "status=none"])
                self.add("dd write 4M buffered+fsync", t, dd_mb * 2**20 / 1e6 / (time.monotonic() - t0), "MB/s")
                sh("sync; echo 3 > /proc/sys/vm/drop_caches", check=False)
                t0 = time.monotonic()
                sh(["cp", files[t], "/dev/null"])
                self.add("cp read (cold)", t, dd_mb * 2**20 / 1e6 / (time.monotonic() - t0), "MB/s")
            t0 = time.monotonic()
            sh("rbd export --no-progress %s/%s - > /dev/null" % (self.pool, names["librbd"]), env=self.env)
            self.add("cp read (cold)", "librbd", dd_mb * 2**20 / 1e6 / (time.monotonic() - t0), "MB/s")
        # a local file copied into a new image (it grows with every write):
        # cp + fsync and qemu-img convert through each mount, rbd import for librbd
        src = os.path.join(self.tmp, "src.raw")
        sh("head -c %dM /dev/urandom > %s && cat %s > /dev/null" % (size, src, src))
        mb = size * 2**20 / 1e6
        def fresh(name):
            sh("rbd rm --no-progress %s/%s >/dev/null 2>&1" % (self.pool, name), check=False, env=self.env)
        targets = ["rbdfs", "rbd-fuse", "librbd"]
        for run in range(self.a.runs):
            for row, how in (("cp file in (new image)", "cp"), ("qemu-img convert in (new image)", "qemu")):
                # each run starts with another target, on a quiet machine
                for t in targets[run % 3:] + targets[:run % 3]:
                    name = "in-%s-%s" % (how, t.replace("-", ""))
                    fresh(name)
                    self.settle()
                    if t == "librbd":
                        # the cluster's default features, as cp/qemu-img into the
                        # mount create them (rbdfs takes rbd_default_features too)
                        cmd = ["rbd", "import", "--no-progress", src, "%s/%s" % (self.pool, name)]
                    else:
                        dst = os.path.join(m, self.pool, name) if t == "rbdfs" else os.path.join(fm, name)
                        if how == "cp":
                            cmd = "cp %s %s && sync %s" % (src, dst, dst)
                        else:
                            cmd = ["qemu-img", "convert", "-f", "raw", "-O", "raw", src, dst]
                    t0 = time.monotonic()
                    r = sh(cmd, check=False, capture=True, env=self.env)
                    dt = time.monotonic() - t0
                    if r.returncode != 0:
                        self.failures.setdefault(row, {})[t] = "fails: " + (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1][:60]
                    else:
                        self.add(row, t, mb / dt, "MB/s")
                    fresh(name)
        self.notes.append("cp/qemu-img convert in: a %d MiB local file (page cache hot) into a new image "
                          "that grows with every write, with the cluster's default features (exclusive lock, "
                          "object map, fast-diff) in every column; cp includes an fsync of the copy (sync "
                          "FILE); the librbd column is `rbd import` of the same file in both rows; every timed run starts on a quiet "
                          "machine, with the targets in turn going first" % size)

        self.copy_rows(m, fm, src)

        # the librbd figure for buffered dd is librbd's sequential write (fio)
        self.results["dd write 4M buffered+fsync"]["librbd"] = list(self.results["seq write 4M qd16"]["librbd"])
        self.notes.append("dd write: the librbd column is librbd's sequential 4M write (fio rbd engine); "
                          "cp read: the librbd column is `rbd export` to /dev/null")

        # memory under a long random-write run: sample RSS while fio writes
        # random 4K-1M blocks from two jobs at qd32 each
        secs = self.a.rss_secs
        samples = []
        done = threading.Event()
        def sample():
            while not done.is_set():
                samples.append(self.rss_mb())
                done.wait(0.5)
        th = threading.Thread(target=sample)
        th.start()
        try:
            sh(["fio", "--name=rss", "--rw=randwrite", "--bsrange=4k-1m", "--iodepth=32", "--numjobs=2",
                "--ioengine=libaio", "--direct=1", "--filename=" + files["rbdfs"], "--size=%dM" % size,
                "--runtime=%d" % secs, "--time_based", "--output-format=terse"], capture=True,
               timeout=secs * 3 + 120)
        finally:
            done.set()
            th.join()
        peak = max(samples) if samples else 0.0
        self.notes.append("rbdfs RSS during a %d s random write (fio, 4K-1M blocks, 2 jobs x qd32): "
                          "start %.0f MiB, peak %.0f MiB, end %.0f MiB; stated bound %d MiB: %s"
                          % (secs, samples[0] if samples else 0, peak, samples[-1] if samples else 0,
                             RSS_BOUND_MIB, bound_verdict(peak)))

        # ls -l of a pool of many images
        self.umount(fm)
        n = self.a.images
        self.make_many(n)
        fm2 = self.mount_rbdfuse(self.many, "rbdfuse-many")
        for run in range(self.a.runs):
            t0 = time.monotonic()
            r = sh(["ls", "-l", os.path.join(m, self.many)], capture=True, check=False)
            dt = time.monotonic() - t0
            shown = len([l for l in r.stdout.splitlines() if l.startswith("-")])
            self.add("ls -l %d images (10 GiB, default features)" % n, "rbdfs", dt, "s")
            if r.returncode != 0 or shown != n:
                self.notes.append("rbdfs ls -l: exit %d, %d of %d images shown" % (r.returncode, shown, n))
            t0 = time.monotonic()
            r = sh(["ls", "-l", fm2], capture=True, check=False)
            dt = time.monotonic() - t0
            shown = len([l for l in r.stdout.splitlines() if l.startswith("-")])
            errors = len([l for l in r.stderr.splitlines() if l.strip()])
            self.add("ls -l %d images (10 GiB, default features)" % n, "rbd-fuse", dt, "s")
            if r.returncode != 0 or shown != n:
                self.failures.setdefault("ls -l %d images (10 GiB, default features)" % n, {})["rbd-fuse"] = (
                    "fails: %d of %d shown" % (shown, n))
            if run == 0:
                self.notes.append("rbd-fuse ls -l of %d images: exit %d, %d shown, %d error lines"
                                  % (n, r.returncode, shown, errors))
        self.umount(fm2)
        self.memory_row(m)
        # what the lock and the object map cost rbdfs: each default-feature
        # run against the layering-only run paired with it (same workload,
        # both images filled, back to back); median of the per-pair ratios
        parts, pairs = [], 0
        for drow, lrow in self.default_feature_rows:
            d, l = self.results.get(drow, {}).get("rbdfs", []), self.paired.get(drow, [])
            ratios = [x / y for x, y in zip(d, l) if y > 0]
            pairs = max(pairs, len(ratios))
            if ratios:
                parts.append("%s %.2fx (%.2f-%.2f)" % (lrow, statistics.median(ratios), min(ratios), max(ratios)))
        self.notes.append("rbdfs on default-feature images (exclusive lock, object map, fast-diff) "
                          "against layering-only images, same workload, paired runs (%d pairs; the rbdfs "
                          "figures of those rows are medians of all %d; median of per-pair ratios, "
                          "min-max): %s" % (pairs, pairs, ", ".join(parts)))
        hwm = self.peak_rss_mb()
        self.notes.append("rbdfs peak RSS (VmHWM) over the whole run: %.0f MiB (bound %d MiB: %s)"
                          % (hwm, RSS_BOUND_MIB, bound_verdict(hwm)))

    def make_many(self, n):
        """images many-00000.. in the many pool, n in all, 10 GiB each with
        Pacific's default features (exclusive lock, object map)"""
        sh(["/usr/bin/python3", "-c", """
import rados, rbd, sys
c = rados.Rados(conffile=sys.argv[1]); c.connect(); io = c.open_ioctx(sys.argv[2])
have = set(rbd.RBD().list(io))
for i in range(int(sys.argv[3])):
    n = "many-%05d" % i
    if n not in have: rbd.RBD().create(io, n, 10 << 30, old_format=False, features=61)
""", self.conf, self.many, str(n)])

    def memory_row(self, m):
        """A pool of --memory-images images (default features): ls -l twice,
        every image opened and read once, then left idle. The daemon's RSS
        must stay under the stated bound, and once idle it holds no image open
        (user.rbdfs.caches on the root). A note, not a table row."""
        # the ls -l row's pool (the mount shows it), grown to n images
        n, pool = max(self.a.memory_images, self.a.images), self.many
        t0 = time.monotonic()
        self.make_many(n)
        made = time.monotonic() - t0
        d = os.path.join(m, pool)
        rss = [self.rss_mb()]
        for _ in range(2):
            sh(["ls", "-l", d], capture=True)
            rss.append(self.rss_mb())
        t0 = time.monotonic()
        sh(["/usr/bin/python3", "-c", """
import os, sys
d = sys.argv[1]
for name in sorted(os.listdir(d)):
    if name.startswith("."):
        continue
    fd = os.open(os.path.join(d, name), os.O_RDONLY)
    os.pread(fd, 4096, 0)
    os.close(fd)
""", d])
        opened = time.monotonic() - t0
        rss.append(self.rss_mb())
        time.sleep(3)
        caches = os.getxattr(m, "user.rbdfs.caches").decode()
        peak = self.peak_rss_mb()
        self.notes.append("memory with %d images of 10 GiB (default features; made in %.0f s): RSS %.0f MiB "
                          "at the start, %.0f and %.0f MiB after each ls -l, %.0f MiB after opening and reading "
                          "every image once (%.0f s, %.1f ms each); peak so far %.0f MiB (bound %d MiB: %s); "
                          "idle 3 s later: %s" % (n, made, rss[0], rss[1], rss[2], rss[3], opened,
                                                  1000 * opened / max(n, 1), peak, RSS_BOUND_MIB,
                                                  bound_verdict(max(rss + [peak])), caches))

    def copy_rows(self, m, fm, src):
        """Copies of an image inside the cluster: cp in the rbdfs mount
        (copy_file_range: whole objects copied by the OSDs) against `rbd cp`
        and `rbd deep cp` (librbd reads and writes every byte) and cp through
        rbd-fuse, on a full image and on one ten times as large holding as
        much data (in ten pieces). MB/s of the source image's size."""
        size = self.a.size_mb
        full, sparse = "cp-src-full", "cp-src-sparse"
        sraw = os.path.join(self.tmp, "sparse.raw")
        sh("truncate -s %dM %s" % (10 * size, sraw))
        piece = max(size // 8, 1)  # eight pieces, spread over the ten times larger image
        for k in range(8):
            sh(["dd", "if=" + src, "of=" + sraw, "bs=1M", "count=%d" % piece,
                "skip=%d" % (k * piece % size), "seek=%d" % (k * (10 * size // 8)),
                "conv=notrunc,sparse", "status=none"])
        for name, path in ((full, src), (sparse, sraw)):
            sh("rbd rm --no-progress %s/%s >/dev/null 2>&1; rbd import --no-progress %s %s/%s"
               % (self.pool, name, path, self.pool, name), env=self.env)
        os.unlink(sraw)
        rows = {full: ("copy %d MiB image (full)" % size, size),
                sparse: ("copy %d MiB image holding %d MiB" % (10 * size, 8 * piece), 10 * size)}
        for name, (row, mib) in rows.items():
            ways = [("rbdfs", "cp"), ("librbd", "rbd cp"), ("rbd-fuse", "cp"), ("librbd-deep", "rbd deep cp"),
                    ("rbdfs-qemu", "qemu-img convert -C"), ("librbd-qemu", "qemu-img convert")]
            conf = self.env.get("CEPH_CONF", "")
            for run in range(self.a.runs):
                # each run starts with another target
                n = run % len(ways)
                for t, how in ways[n:] + ways[:n]:
                    dst = "cp-dst-%s" % t.replace("-", "")
                    sh("rbd rm --no-progress %s/%s >/dev/null 2>&1" % (self.pool, dst), check=False, env=self.env)
                    if t == "rbdfs":
                        cmd = "cp %s %s && sync %s" % (os.path.join(m, self.pool, name),
                                                       os.path.join(m, self.pool, dst),
                                                       os.path.join(m, self.pool, dst))
                    elif t == "rbd-fuse":
                        cmd = "cp %s %s && sync %s" % (os.path.join(fm, name), os.path.join(fm, dst),
                                                       os.path.join(fm, dst))
                    elif t == "rbdfs-qemu":  # copy_file_range for each extent qemu finds data in
                        cmd = "qemu-img convert -C -f raw -O raw %s %s && sync %s" % (
                            os.path.join(m, self.pool, name), os.path.join(m, self.pool, dst),
                            os.path.join(m, self.pool, dst))
                    elif t == "librbd-qemu":  # qemu's rbd driver at both ends
                        cmd = "qemu-img convert -f raw -O raw rbd:%s/%s:conf=%s rbd:%s/%s:conf=%s" % (
                            self.pool, name, conf, self.pool, dst, conf)
                    else:
                        cmd = "%s --no-progress %s/%s %s/%s" % (how, self.pool, name, self.pool, dst)
                    self.settle()
                    t0 = time.monotonic()
                    r = sh(cmd, check=False, capture=True, env=self.env)
                    dt = time.monotonic() - t0
                    target_row = row + (" [vs rbd deep cp]" if t == "librbd-deep" else
                                        " [qemu-img convert -C]" if t.endswith("-qemu") else "")
                    col = t.split("-")[0] if t in ("librbd-deep", "rbdfs-qemu", "librbd-qemu") else t
                    if r.returncode != 0:
                        self.failures.setdefault(target_row, {})[col] = "fails: " + (
                            r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1][:60]
                    else:
                        self.add(target_row, col, mib * 2**20 / 1e6 / dt, "MB/s")
                        if t == "rbdfs":  # the same cp, against the deep copy too
                            self.add(row + " [vs rbd deep cp]", col, mib * 2**20 / 1e6 / dt, "MB/s")
                    print("  run %d %-40s %-11s %6.2f s" % (run + 1, row, t, dt), flush=True)
                    sh("rbd rm --no-progress %s/%s >/dev/null 2>&1" % (self.pool, dst), check=False, env=self.env)
            sh("rbd rm --no-progress %s/%s >/dev/null 2>&1" % (self.pool, name), check=False, env=self.env)
        self.notes.append("copy rows: cp of an image to a new one in the same pool, through each mount "
                          "(rbdfs: cp of the full image uses copy_file_range, whole objects copied by the "
                          "OSDs; of the sparse one, coreutils' cp finds the data with SEEK_DATA and reads "
                          "and writes it itself), against `rbd cp` (and, in the [vs rbd deep cp] rows, "
                          "`rbd deep cp`) in the librbd column; the sparse image holds its data in eight "
                          "pieces; the targets take turns going first; MB/s of the source's size, timed to the end of a sync of the copy; "
                          "no qsd-fuse column: qemu-storage-daemon exports one existing image per file, so a "
                          "copy through it streams every byte like rbd-fuse, and cannot make the new image; "
                          "[qemu-img convert -C] rows: qemu-img convert -C between files of the rbdfs mount "
                          "(copy_file_range for each extent qemu finds data in, by SEEK_DATA) against qemu-img "
                          "convert over qemu's rbd driver (librbd) at both ends")
        # what the OSDs can do at best: a copy reads every byte once and
        # writes it once; on this machine both share the same two cores and
        # disk, so the fastest copy takes the time of librbd's fastest
        # sequential read plus its fastest sequential write of the same bytes
        w = self.results.get("seq write 4M qd16", {}).get("librbd", [])
        r = self.results.get("seq read 4M qd16", {}).get("librbd", [])
        c = self.results.get(rows[full][0], {})
        if w and r and c.get("librbd") and c.get("rbdfs"):
            bound = 1 / (1 / max(w) + 1 / max(r))
            self.notes.append("copy bound: librbd's best sequential write (%.0f MB/s) and read (%.0f MB/s) "
                              "in this run make a copy that reads and writes every byte at best %.0f MB/s "
                              "(1/(1/W+1/R)); rbdfs' full copy %.0f MB/s is %.2f of it, rbd cp %.0f MB/s %.2f"
                              % (max(w), max(r), bound, statistics.median(c["rbdfs"]),
                                 statistics.median(c["rbdfs"]) / bound, statistics.median(c["librbd"]),
                                 statistics.median(c["librbd"]) / bound))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rbdfs", required=True)
    ap.add_argument("--repo", required=True)
    ap.add_argument("--conf")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=5,
                    help="paired rbdfs runs, default-feature against layering-only image (default 5)")
    ap.add_argument("--out")
    ap.add_argument("--keep-cluster", action="store_true")
    ap.add_argument("--io-uring", choices=("auto", "on", "off"), default="auto",
                    help="the fio rows also on a second rbdfs mount over FUSE io_uring: auto (where the "
                         "kernel has it; default), on (fail without it), off")
    ap.add_argument("--replot", metavar="DIR", help="redraw DIR/chart.png from DIR/results.json")
    # smaller runs (tests/cluster/test_bench.sh checks the harness with these)
    ap.add_argument("--runtime", type=int, help="seconds per fio run (quick 8, full 20)")
    ap.add_argument("--size-mb", type=int, help="image size in MiB (quick 512, full 1024)")
    ap.add_argument("--images", type=int, default=1000, help="images for the ls -l row")
    ap.add_argument("--settle-secs", type=float, default=20.0,
                    help="longest wait for a quiet machine before a timed run (0: none)")
    ap.add_argument("--memory-images", type=int, default=10000,
                    help="images for the memory note (ls -l twice, each opened once)")
    ap.add_argument("--rss-secs", type=int, help="seconds of the random-write RSS run (quick 60, full 300)")
    a = ap.parse_args()
    if a.replot:
        with open(os.path.join(a.replot, "results.json")) as f:
            j = json.load(f)
        chart = [(row, {t: statistics.median(v) for t, v in per.items()}) for row, per in j["results"].items()]
        plot(chart, j["units"], os.path.join(a.replot, "chart.png"))
        return
    a.runtime = a.runtime or (8 if a.quick else 20)
    a.rss_secs = a.rss_secs or (60 if a.quick else 300)
    a.size_mb = a.size_mb or (512 if a.quick else 1024)
    a.out = a.out or os.path.join(a.repo, "tools", "bench-results")
    b = Bench(a)
    def on_signal(*_):
        b.stop()
        sys.exit(130)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.time()
    try:
        b.start()
        b.run()
    finally:
        b.stop()
    table, chart = report(b.results, b.units, b.failures)
    cpu = sh("lscpu | sed -n 's/^Model name: *//p'", capture=True, check=False).stdout.strip()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    ceph = sh("ceph --version", capture=True, check=False).stdout.strip()
    header = ("rbdfs benchmark, %s, %s mode, median of %d runs (min-max)\n\n"
              "Machine: %s, %d cores, %.0f GiB RAM, kernel %s. Cluster: %s, 1 mon + 1 bluestore OSD "
              "on loopback, size-1 pools. Images: %d MiB, 4 MiB objects, layering only.\n"
              "Targets: rbdfs%%s; librbd (fio's rbd engine); qsd-fuse (qemu-storage-daemon's FUSE export "
              "of the image over qemu's rbd driver, librbd with cache.direct=on: the same kernel FUSE "
              "path as rbdfs); rbd-fuse. fio through the FUSE targets: libaio, O_DIRECT.\n"
              % (time.strftime("%Y-%m-%d"), "quick" if a.quick else "full", a.runs, cpu or "unknown",
                 os.cpu_count(), mem, platform.release(), ceph.split("(")[0].strip(), a.size_mb)).replace(
                  "rbdfs%s", "rbdfs (/dev/fuse" + ("; the fio rows also over io_uring, in the notes)"
                                                   if b.io_uring else ")"))
    notes = "\n".join("- " + n for n in b.notes)
    text = header + "\n" + table + "\n\n" + notes + "\n\nRun time: %.0f s (`tools/bench%s`)\n" % (
        time.time() - started, " --quick" if a.quick else "")
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump({"results": b.results, "units": b.units, "notes": b.notes, "failures": b.failures}, f, indent=1)
    plot(chart, b.units, os.path.join(a.out, "chart.png"))
    print(text)

if __name__ == "__main__":
    main()
