// HeaderWatch: an open image's watch on its header object, the notifies
// other clients (librbd, krbd) send on it, and the ones we send.
//
//   notify from this client ........ acknowledged at once (empty payload)
//   notify from another client ..... handlers.quick(notifier, payload) on the
//                                    librados thread: an ack payload, or
//                                    nullopt: handlers.slow on a thread of
//                                    its own (it may wait for our writes,
//                                    whose completions come on the finisher
//                                    that delivers the notify), then acked
//                                    with what it returns
//   watch lost ..................... re-watched, handlers.rewatched(handle),
//                                    then slow(0, "") (anything may have
//                                    changed meanwhile)
//   post_update() .................. one HEADER_UPDATE in flight at a time;
//                                    updates posted meanwhile are announced
//                                    by one more, 100 ms after the last
//                                    began (a growing file: a few a second):
//
//     IDLE --post--> SENDING --done--> IDLE
//                     |   ^
//                post |   | done (again): wait out the gap, send
//                     v   |
//                 SENDING+again
//   notify(payload) ................ synchronous, 5 s (lock messages)
#pragma once

#include <rados/librados.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/cluster.h"
#include "core/result.h"

namespace rbdfs::core {

class HeaderWatch {
 public:
  struct Handlers {
    std::function<std::optional<std::string>(uint64_t notifier, const std::string& payload)> quick;
    std::function<std::string(uint64_t notifier, const std::string& payload)> slow;
    std::function<void(uint64_t handle)> rewatched;
  };
  // `what` names the image in log lines.
  HeaderWatch(std::shared_ptr<Cluster> cluster, librados::IoCtx& md, std::string oid,
              std::string what, Handlers handlers);
  // Unwatches, lets callbacks under way finish, waits for a notify in flight.
  ~HeaderWatch();
  HeaderWatch(const HeaderWatch&) = delete;
  HeaderWatch& operator=(const HeaderWatch&) = delete;

  Status watch();
  // The watch's handle (cookie), 0 while not watching.
  uint64_t handle() const;
  // Watches if not watching (and no re-watch is under way; then waits
  // for it).
  Status ensure_watched();
  void post_update();
  // Sends `payload` to every watcher and waits (5 s) for their acks:
  // notify2's reply buffer. ETIMEDOUT when some did not ack (the reply,
  // with who did, is still filled).
  Status notify(const std::string& payload, std::string* reply = nullptr);

 private:
  struct Shared;
  std::shared_ptr<Cluster> m_cluster;
  std::shared_ptr<Shared> m_shared;  // also held by threads handling notifies
};

}  // namespace rbdfs::core
