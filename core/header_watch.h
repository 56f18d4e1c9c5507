// HeaderWatch: an open image's watch on its header object, and the
// header-update notifies it sends to other clients (librbd, krbd).
//
//   notify from this client ........ acknowledged at once (our header is current)
//   notify from another client ..... on_change(notifier) on a thread of its
//                                    own (it may wait for our writes, whose
//                                    completions come on the finisher that
//                                    delivers the notify), then acknowledged
//   watch lost ..................... re-watched, then on_change(0)
//   post_update() .................. one notify in flight at a time; updates
//                                    posted meanwhile are announced by one
//                                    more when it completes:
//
//     IDLE --post--> SENDING --done--> IDLE
//                     |   ^
//                post |   | done (again)
//                     v   |
//                 SENDING+again
#pragma once

#include <rados/librados.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/cluster.h"
#include "core/result.h"

namespace rbdfs::core {

class HeaderWatch {
 public:
  using OnChange = std::function<void(uint64_t notifier_id)>;
  // `what` names the image in log lines.
  HeaderWatch(std::shared_ptr<Cluster> cluster, librados::IoCtx& md, std::string oid,
              std::string what, OnChange on_change);
  // Unwatches, lets callbacks under way finish, waits for a notify in flight.
  ~HeaderWatch();
  HeaderWatch(const HeaderWatch&) = delete;
  HeaderWatch& operator=(const HeaderWatch&) = delete;

  Status watch();
  void post_update();

 private:
  struct Shared;
  std::shared_ptr<Cluster> m_cluster;
  std::shared_ptr<Shared> m_shared;  // also held by threads handling notifies
};

}  // namespace rbdfs::core
