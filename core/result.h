// Result<T>: a value or a positive errno, the one error currency of core/.
//
// Core never throws across its API: every fallible call returns Result<T>
// (or Status == Result<void>). Adapters (fuse/, tools/) convert once at their
// edge: fuse_reply_err(req, r.error()), or a message and an exit code.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace rbdfs::core {

// A positive errno value. Constructed explicitly so that a bare int is never
// mistaken for one; from_rados() accepts librados' negative return codes.
class Errno {
 public:
  constexpr explicit Errno(int code) : m_code(code < 0 ? -code : code) {}
  static constexpr Errno from_rados(int r) { return Errno(r); }
  constexpr int code() const { return m_code; }
  std::string message() const { return std::strerror(m_code); }
  constexpr bool operator==(const Errno&) const = default;

 private:
  int m_code;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : m_v(std::move(value)) {}  // NOLINT: implicit by design
  Result(Errno e) : m_v(e) {}                 // NOLINT

  bool ok() const { return m_v.index() == 0; }
  explicit operator bool() const { return ok(); }
  int error() const { return ok() ? 0 : std::get<1>(m_v).code(); }
  Errno err() const { return std::get<1>(m_v); }

  T& value() & { return std::get<0>(m_v); }
  const T& value() const& { return std::get<0>(m_v); }
  T&& value() && { return std::get<0>(std::move(m_v)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Errno> m_v;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Errno e) : m_code(e.code()) {}  // NOLINT
  bool ok() const { return m_code == 0; }
  explicit operator bool() const { return ok(); }
  int error() const { return m_code; }
  Errno err() const { return Errno(m_code); }

 private:
  int m_code = 0;
};

using Status = Result<void>;

inline Status ok_status() { return {}; }

// Status from a librados return code (< 0 is an error).
inline Status status_from_rados(int r) {
  if (r < 0) return Errno::from_rados(r);
  return {};
}

}  // namespace rbdfs::core

// Propagate an error: RBDFS_TRY(expr) returns expr's error from the calling
// function when expr failed.
#define RBDFS_TRY(expr)                                \
  do {                                                 \
    auto&& rbdfs_try_r_ = (expr);                      \
    if (!rbdfs_try_r_.ok()) return rbdfs_try_r_.err(); \
  } while (0)
