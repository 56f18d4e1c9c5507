#include "tools/exercise/exerciser.h"

#include <algorithm>

#include "tools/exercise/core_target.h"
#include "tools/exercise/mount_target.h"

namespace rbdfs::exercise {

void Exerciser::check_seek(const Op& op, int64_t r) {
  const uint64_t size = m_model->size();
  const char* how = op.keep_size ? "SEEK_DATA" : "SEEK_HOLE";
  if (op.off >= size) {
    if (r != -1)
      throw Failure{std::string(how) + " at " + num(op.off) + ", at or past the end " + num(size) +
                        ", gave " + std::to_string(r) + ", not ENXIO",
                    ""};
    return;
  }
  if (r == -1 && !op.keep_size)
    throw Failure{std::string(how) + " at " + num(op.off) + " inside the image (size " + num(size) +
                      ") gave ENXIO",
                  ""};
  uint64_t to = r == -1 ? size : static_cast<uint64_t>(r);
  if (r != -1 && (to < op.off || to > size || (op.keep_size && to == size)))
    throw Failure{std::string(how) + " at " + num(op.off) + " gave " + num(to) +
                      ", outside [off, size" + (op.keep_size ? ")" : "]") + " (size " + num(size) +
                      ")",
                  ""};
  if (!op.keep_size) return;
  m_buf_b.resize(CHUNK);
  for (uint64_t o = op.off; o < to; o += CHUNK) {
    uint64_t n = m_model->read(o, std::min(CHUNK, to - o), m_buf_b.data());
    for (uint64_t i = 0; i < n; ++i)
      if (m_buf_b[i] != 0)
        throw Failure{std::string(how) + " at " + num(op.off) + " gave " +
                          (r == -1 ? std::string("ENXIO (no data up to the end)") : num(to)) +
                          ", but the model has data at " + num(o + i) + " (byte " +
                          hex(static_cast<uint8_t>(m_buf_b[i])) + ")",
                      ""};
  }
}

void Exerciser::expect_size(const char* what, uint64_t got) {
  if (got != m_model->size())
    throw Failure{
        std::string(what) + " size is " + num(got) + ", the model's is " + num(m_model->size()),
        ""};
}

std::string Exerciser::pattern_hint(uint64_t off, uint8_t got) const {
  if (got == 0) return "";
  unsigned residue = static_cast<uint8_t>(got - static_cast<uint8_t>(off % 251));
  std::string s = "    the byte found is what an op #n with n % 256 == " + std::to_string(residue) +
                  " writes there";
  std::string recent;
  for (const auto& h : m_history)
    if (h.writes_at(off) && h.n % 256 == residue) recent += " #" + std::to_string(h.n);
  if (!recent.empty()) s += "; recent writers of that offset that match:" + recent;
  return s + "\n";
}

// Compares a read of `off` with what the model says.
void Exerciser::compare_read(const char* what, uint64_t off, uint64_t want_n, const char* want,
                             uint64_t got_n, const char* got, const std::string& got_name) {
  uint64_t n = std::min(want_n, got_n);
  size_t i = first_diff(want, got, n);
  if (i == n && want_n == got_n) return;
  Failure f;
  if (i < n) {
    size_t run = i;
    while (run < n && want[run] != got[run]) ++run;
    uint64_t at = off + i;
    size_t show = std::min<size_t>(16, n - i);
    f.what = std::string(what) + ": " + got_name + " differs from the model at offset " + num(at);
    f.detail = "    expected (model) " + hex_bytes(want + i, show) + "\n    got (" + got_name +
               ")  " + hex_bytes(got + i, show) + "\n    differing run: [" + hex(at) + ", " +
               hex(off + run) + ") (" + std::to_string(run - i) +
               " bytes; more may follow); bytes compared: [" + hex(off) + ", " + hex(off + n) +
               ")\n" + pattern_hint(at, static_cast<uint8_t>(got[i]));
  } else {
    f.what = std::string(what) + ": " + got_name + " returned " + std::to_string(got_n) +
             " bytes at " + num(off) + ", the model has " + std::to_string(want_n);
  }
  throw f;
}

void Exerciser::execute(Op& op) {
  const uint64_t n = op.n;
  switch (op.kind) {
    case Kind::WRITE: {
      m_buf_a.resize(op.len);
      fill_pattern(m_buf_a.data(), op.off, op.len, n);
      m_target->write(op.off, m_buf_a.data(), op.len);
      m_model->write(op.off, m_buf_a.data(), op.len);
      if (op.off + op.len > op.size_before)
        expect_size("after a write past the end, the target's", m_target->size());
      break;
    }
    case Kind::DIRECT_WRITE: {
      AlignedBuf b(op.len);
      fill_pattern(b.data, op.off, op.len, n);
      m_target->direct_write(op.off, b.data, op.len);
      m_model->write(op.off, b.data, op.len);
      if (op.off + op.len > op.size_before)
        expect_size("after a direct write past the end, the target's", m_target->size());
      break;
    }
    case Kind::BURST: {
      std::vector<std::unique_ptr<AlignedBuf>> bufs;
      for (const auto& [o, l] : op.parts) {
        bufs.push_back(std::make_unique<AlignedBuf>(l));
        fill_pattern(bufs.back()->data, o, l, n);
      }
      std::vector<Failure> errors(op.parts.size());
      std::vector<char> failed(op.parts.size(), 0);
      {
        std::vector<std::thread> threads;
        for (size_t i = 0; i < op.parts.size(); ++i)
          threads.emplace_back([&, i] {
            try {
              const auto& [o, l] = op.parts[i];
              if (op.direct)
                m_target->direct_write(o, bufs[i]->data, l);
              else
                m_target->write(o, bufs[i]->data, l);
            } catch (const Failure& f) {
              errors[i] = f;
              failed[i] = 1;
            }
          });
        for (auto& t : threads) t.join();
      }
      for (size_t i = 0; i < op.parts.size(); ++i)
        if (failed[i]) throw errors[i];
      uint64_t end = 0;
      for (size_t i = 0; i < op.parts.size(); ++i) {
        const auto& [o, l] = op.parts[i];
        m_model->write(o, bufs[i]->data, l);
        end = std::max(end, o + l);
      }
      if (end > op.size_before)
        expect_size("after a burst of writes past the end, the target's", m_target->size());
      break;
    }
    case Kind::READ: {
      m_buf_a.resize(op.len);
      m_buf_b.resize(op.len);
      uint64_t got = m_target->read(op.off, op.len, m_buf_a.data());
      uint64_t want = m_model->read(op.off, op.len, m_buf_b.data());
      compare_read("read", op.off, want, m_buf_b.data(), got, m_buf_a.data(), "the target");
      break;
    }
    case Kind::DIRECT_READ: {
      AlignedBuf b(op.len);
      m_buf_b.resize(op.len);
      uint64_t got = m_target->direct_read(op.off, op.len, b.data);
      uint64_t want = m_model->read(op.off, op.len, m_buf_b.data());
      compare_read("direct read", op.off, want, m_buf_b.data(), got, b.data, "the target");
      break;
    }
    case Kind::TRUNCATE:
      m_target->truncate(op.off);
      m_model->truncate(op.off);
      expect_size("after truncate, the target's", m_target->size());
      break;
    case Kind::PUNCH:
      m_target->punch(op.off, op.len);
      m_model->punch(op.off, op.len);
      expect_size("after punch hole, the target's", m_target->size());
      break;
    case Kind::ZERO:
      m_target->zero(op.off, op.len, op.keep_size);
      m_model->zero(op.off, op.len, op.keep_size);
      expect_size("after zero range, the target's", m_target->size());
      break;
    case Kind::FSYNC:
      m_target->fsync();
      break;
    case Kind::ALLOCATE:
      m_target->allocate(op.off, op.len, op.keep_size);
      if (!op.keep_size && op.off + op.len > m_model->size()) m_model->truncate(op.off + op.len);
      expect_size("after allocate, the target's", m_target->size());
      break;
    case Kind::SEEK: {
      int64_t r = 0;
      if (!m_target->seek(op.off, op.keep_size, &r)) break;
      check_seek(op, r);
      break;
    }
    case Kind::REOPEN:
      m_target->reopen(op.trunc);
      if (op.trunc) m_model->truncate(0);
      expect_size("after reopen, the target's", m_target->size());
      break;
    case Kind::SNAP_CREATE: {
      if (m_snaps.size() >= MAX_SNAPS) {
        m_target->snap_remove(m_snaps.front().name);
        m_snaps.pop_front();
      }
      m_target->snap_create(op.snap_name);
      m_snaps.push_back({op.snap_name, m_model->copy(m_dir, "snap")});
      break;
    }
    case Kind::SNAP_REMOVE: {
      op.snap_name = m_snaps[op.snap].name;
      m_target->snap_remove(op.snap_name);
      m_snaps.erase(m_snaps.begin() + static_cast<ptrdiff_t>(op.snap));
      break;
    }
    case Kind::COPY: {
      // the model: the source's bytes (fewer at its end) written at off
      const Model& src = op.from_snap ? *m_snaps[op.snap].model : *m_model;
      if (op.from_snap) op.snap_name = m_snaps[op.snap].name;
      m_buf_a.resize(op.len);
      const uint64_t want = src.read(op.src_off, op.len, m_buf_a.data());
      const uint64_t got = m_target->copy_range(op.snap_name, op.src_off, op.off, op.len);
      if (got != want)
        throw Failure{"copy_file_range copied " + num(got) + " bytes, the model " + num(want), ""};
      if (want) m_model->write(op.off, m_buf_a.data(), want);
      if (op.off + want > op.size_before)
        expect_size("after a copy past the end, the target's", m_target->size());
      break;
    }
    case Kind::SNAP_READ: {
      const Snap& s = m_snaps[op.snap];
      op.snap_name = s.name;
      if (op.whole) {
        compare_snapshot(s, false);
        break;
      }
      auto r = m_target->snap_open(s.name);
      uint64_t ssize = r->size();
      if (ssize != s.model->size())
        throw Failure{"snapshot " + s.name + " size is " + num(ssize) + ", its model's is " +
                          num(s.model->size()),
                      ""};
      m_buf_a.resize(op.len);
      m_buf_b.resize(op.len);
      uint64_t got = r->read(op.off, op.len, m_buf_a.data());
      uint64_t want = s.model->read(op.off, op.len, m_buf_b.data());
      compare_read(("snapshot " + s.name + " read").c_str(), op.off, want, m_buf_b.data(), got,
                   m_buf_a.data(), "the target");
      break;
    }
    default:
      break;
  }
}

// A whole snapshot through the target (and `rbd export` with `with_rbd`)
// against its model.
void Exerciser::compare_snapshot(const Snap& s, bool with_rbd) {
  auto r = m_target->snap_open(s.name);
  const Model& m = *s.model;
  if (r->size() != m.size())
    throw Failure{
        "snapshot " + s.name + " size is " + num(r->size()) + ", its model's is " + num(m.size()),
        ""};
  m_buf_a.resize(CHUNK);
  m_buf_b.resize(CHUNK);
  m_buf_c.resize(CHUNK);
  FILE* f = nullptr;
  std::string cmd;
  if (with_rbd) {
    cmd = m_rbd.command("export --no-progress " + shell_quote(m_spec + "@" + s.name) + " -");
    f = ::popen(cmd.c_str(), "r");
    if (!f) sys_fail("popen(" + cmd + ")", errno);
  }
  std::string what = "snapshot " + s.name + " full compare";
  uint64_t off = 0;
  do {  // once even when empty: the target must read nothing then
    uint64_t want = m.read(off, CHUNK, m_buf_b.data());
    uint64_t got = r->read(off, CHUNK, m_buf_a.data());
    compare_read(what.c_str(), off, want, m_buf_b.data(), got, m_buf_a.data(), "the target");
    if (f) {
      uint64_t e = std::fread(m_buf_c.data(), 1, CHUNK, f);
      compare_read(what.c_str(), off, want, m_buf_b.data(), e, m_buf_c.data(), "rbd export");
    }
    off += CHUNK;
  } while (off < m.size());
  if (f) {
    if (std::fread(m_buf_c.data(), 1, 1, f) != 0)
      throw Failure{what + ": `" + cmd + "` gives more than the model's " +
                        std::to_string(m.size()) + " bytes",
                    ""};
    RbdCli::close_pipe(f, cmd);
  }
}

// fsync, then the model, `rbd export`, a full read through the target and
// the three sizes must agree; then every live snapshot.
void Exerciser::check(bool final) {
  ++m_checks;
  const auto t0 = std::chrono::steady_clock::now();
  struct Timer {
    std::chrono::steady_clock::time_point t0;
    double* total;
    ~Timer() {
      *total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
  } timer{t0, &m_check_secs};
  m_target->fsync();
  m_model->self_check();
  expect_size("the target's", m_target->size());
  expect_size("`rbd info`", m_rbd.info_size(m_spec));
  const uint64_t size = m_model->size();
  std::string cmd = m_rbd.command("export --no-progress " + shell_quote(m_spec) + " -");
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) sys_fail("popen(" + cmd + ")", errno);
  m_buf_a.resize(CHUNK);
  m_buf_b.resize(CHUNK);
  m_buf_c.resize(CHUNK);
  for (uint64_t off = 0; off < size; off += CHUNK) {
    uint64_t want = m_model->read(off, CHUNK, m_buf_b.data());
    uint64_t e = std::fread(m_buf_c.data(), 1, CHUNK, f);
    compare_read("full compare", off, want, m_buf_b.data(), e, m_buf_c.data(), "rbd export");
    uint64_t got = m_target->read(off, CHUNK, m_buf_a.data());
    compare_read("full compare", off, want, m_buf_b.data(), got, m_buf_a.data(),
                 "a read through the target");
  }
  if (std::fread(m_buf_c.data(), 1, 1, f) != 0)
    throw Failure{"full compare: `" + cmd + "` gives more than the model's " +
                      std::to_string(size) + " bytes",
                  ""};
  RbdCli::close_pipe(f, cmd);
  // nothing past the end through the target either
  uint64_t past = m_target->read(size, 1, m_buf_a.data());
  if (past != 0) throw Failure{"full compare: the target reads a byte past the model's end", ""};
  for (const auto& s : m_snaps) compare_snapshot(s, final);
  if (m_object_map) {
    // rbd takes the lock from the target for this (and gives it back on
    // the next write): the map must match the objects, and stay valid
    m_rbd.run("object-map check --no-progress " + shell_quote(m_spec), true);
    std::string flags =
        RbdCli::json_list(m_rbd.run("info --format json " + shell_quote(m_spec)), "flags");
    if (flags != "[]")
      throw Failure{"object map: `rbd info` flags " + flags + " after `rbd object-map check`", ""};
  }
}

// The command line that ran, with --ops `ops`.
std::string Exerciser::replay_command(uint64_t ops) const {
  std::string s = m_o.argv.empty() ? "rbdfs-exercise" : shell_quote(m_o.argv[0]);
  bool have_ops = false;
  for (size_t i = 1; i < m_o.argv.size(); ++i) {
    if (m_o.argv[i] == "--ops" && i + 1 < m_o.argv.size()) {
      s += " --ops " + std::to_string(ops);
      ++i;
      have_ops = true;
      continue;
    }
    s += " " + shell_quote(m_o.argv[i]);
  }
  if (!have_ops) s += " --ops " + std::to_string(ops);
  return s;
}

void Exerciser::report(const Failure& f, uint64_t op, const std::string& op_text) {
  if (m_model) m_model->keep();
  std::string out = report_text(f, op, op_text);
  std::fputs(out.c_str(), stderr);
}

void Exerciser::arm_watchdog(uint64_t op, const std::string& op_text) {
  if (!m_watchdog.enabled()) return;
  m_watchdog.arm(report_text(
      Failure{"no answer within " + std::to_string(m_o.op_timeout) + " s (--op-timeout): a hang",
              ""},
      op, op_text));
}

std::string Exerciser::report_text(const Failure& f, uint64_t op,
                                   const std::string& op_text) const {
  std::string out = "rbdfs-exercise: FAILED: seed " + std::to_string(m_o.seed) + ", op " +
                    std::to_string(op) + " of " + std::to_string(m_o.ops) + ", target " +
                    (m_target ? m_target->name() : std::string("(none)")) + "\n";
  out += "  op: " + op_text + "\n";
  out += "  " + f.what + "\n" + f.detail;
  if (!m_history.empty()) {
    out += "  last " + std::to_string(m_history.size()) + " ops:\n";
    for (const auto& h : m_history) out += "    " + h.describe() + "\n";
  }
  out += "  image layout: object_size " + std::to_string(m_layout.object_size) + ", stripe_unit " +
         std::to_string(m_layout.stripe_unit) + ", stripe_count " +
         std::to_string(m_layout.stripe_count) + ", starting size " + std::to_string(m_start_size) +
         "\n";
  if (m_model) out += "  model kept: " + m_model->path() + "\n";
  if (m_o.from_image)
    out += "  the image started as a clone of " + m_parent +
           " (its model: rbd export of it); replay on a fresh clone of it with the same layout\n";
  std::string create = "rbd create --size " + std::to_string(m_start_size) + "B --object-size " +
                       std::to_string(m_layout.object_size) + "B";
  if (m_layout.stripe_count != 1 || m_layout.stripe_unit != m_layout.object_size)
    create += " --stripe-unit " + std::to_string(m_layout.stripe_unit) + "B --stripe-count " +
              std::to_string(m_layout.stripe_count);
  std::string features;  // ["layering","striping"] -> layering,striping
  for (char c : m_features)
    if (c != '[' && c != ']' && c != '"' && c != ' ') features += c;
  create += " --image-feature " + (features.empty() ? std::string("layering") : features);
  out += "  replay on a fresh image (" + create + " " + m_spec + "):\n    " +
         replay_command(std::max<uint64_t>(op, 1)) + "\n";
  return out;
}

// --from-image: the model starts as the image's contents (`rbd export`),
// holes left sparse; a clone's parent is named in the report.
void Exerciser::load_model_from_image() {
  std::string info = m_rbd.run("info --format json " + shell_quote(m_spec));
  auto at = info.find("\"parent\":");
  if (at != std::string::npos) m_parent = info.substr(at + 9, info.find('}', at) - at - 8);
  std::string cmd = m_rbd.command("export --no-progress " + shell_quote(m_spec) + " -");
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) sys_fail("popen(" + cmd + ")", errno);
  m_buf_a.resize(CHUNK);
  uint64_t off = 0;
  for (size_t n; (n = std::fread(m_buf_a.data(), 1, CHUNK, f)) > 0; off += n)
    if (std::any_of(m_buf_a.begin(), m_buf_a.begin() + static_cast<long>(n),
                    [](char c) { return c != 0; }))
      m_model->write(off, m_buf_a.data(), n);
  RbdCli::close_pipe(f, cmd);
  if (off != m_start_size)
    throw Failure{"rbd export of " + m_spec + " gave " + num(off) + " bytes, the image has " +
                      num(m_start_size),
                  ""};
}

int Exerciser::run() {
  m_spec = m_o.pool + "/" + m_o.image;
  m_dir = m_o.model_dir;
  auto t0 = std::chrono::steady_clock::now();
  uint64_t n = 0;
  Op current;
  std::string phase = "(setup)";
  try {
    if (m_o.mount_path.empty())
      m_target = std::make_unique<CoreTarget>(m_o.cluster, m_o.pool, m_o.image);
    else
      m_target = std::make_unique<MountTarget>(m_o.mount_path, m_o.direct);
    m_layout = m_target->layout();
    if (!m_layout.valid())
      throw Failure{"the image's layout is not valid: object_size " +
                        std::to_string(m_layout.object_size) + ", stripe_unit " +
                        std::to_string(m_layout.stripe_unit),
                    ""};
    m_start_size = m_target->size();
    m_features =
        RbdCli::json_list(m_rbd.run("info --format json " + shell_quote(m_spec)), "features");
    m_object_map = m_features.find("\"object-map\"") != std::string::npos;
    m_max_size = std::max(m_o.max_size, m_start_size);
    if (m_max_size == 0) usage("--max-size 0");
    m_model = std::make_unique<Model>(m_dir, "model");
    m_model->truncate(m_start_size);
    if (m_o.from_image) load_model_from_image();
    phase = "(initial check)";
    arm_watchdog(0, phase);
    // The image must start as the model: one look through the target and rbd.
    check(false);
    for (n = 1; n <= m_o.ops; ++n) {
      current = generate(n);
      phase = current.describe();
      m_history.push_back(current);
      if (m_history.size() > HISTORY) m_history.pop_front();
      if (m_o.verbose) std::fprintf(stderr, "%s\n", phase.c_str());
      arm_watchdog(n, phase);
      const auto t_op = std::chrono::steady_clock::now();
      execute(current);
      m_history.back() = current;  // with the snapshot name filled in
      ++m_counts[static_cast<size_t>(current.kind)];
      m_secs[static_cast<size_t>(current.kind)] +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t_op).count();
      if (m_o.check_every && n % m_o.check_every == 0 && n != m_o.ops) {
        phase = "(check after op #" + std::to_string(n) + ") after " + current.describe();
        arm_watchdog(n, phase);
        check(false);
      }
    }
    n = m_o.ops;
    phase = "(final check after op #" + std::to_string(n) + ")";
    arm_watchdog(n, phase);
    check(true);
    m_watchdog.disarm();
  } catch (const Failure& f) {
    m_watchdog.disarm();
    if (!m_history.empty() && m_history.back().n == current.n) m_history.back() = current;
    report(f, n, phase);
    return 1;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string counts;
  for (size_t k = 0; k < KINDS; ++k)
    if (m_counts[k]) {
      char t[32];
      std::snprintf(t, sizeof t, " %.1fs", m_secs[k]);
      counts += std::string(counts.empty() ? "" : ", ") + KIND_NAMES[k] + " " +
                std::to_string(m_counts[k]) + (m_secs[k] >= 0.05 ? t : "");
    }
  std::printf(
      "rbdfs-exercise: ok: seed %llu, %llu ops on %s in %.1f s (%s; %llu checks, %.1f s), size "
      "%llu\n",
      static_cast<unsigned long long>(m_o.seed), static_cast<unsigned long long>(m_o.ops),
      m_target->name().c_str(), secs, counts.c_str(), static_cast<unsigned long long>(m_checks),
      m_check_secs, static_cast<unsigned long long>(m_model->size()));
  return 0;
}

}  // namespace rbdfs::exercise
