// Clones: the parent image a clone reads through to (reference
// rbd-lock-objectmap-clones.md §4.1, §4.3).
//
// A parent is an image at one snapshot, opened read-only: no header watch,
// no lock, no object map kept, never written. One per (pool, namespace,
// image, snapshot) per process, shared by every child that uses it while
// any does (Cluster::share). A parent that is itself a clone opens its own
// parent the same way, to any depth. Internal to core/.
#pragma once

#include <memory>
#include <string>

#include "core/cls_rbd.h"
#include "core/cluster.h"
#include "core/result.h"

namespace rbdfs::core {

class ImageImpl;

// The parent `spec` of the clone `child` ("pool/name", for the log).
// ENOENT: the parent pool or image is gone (one log line says which).
Result<std::shared_ptr<ImageImpl>> open_parent(const std::shared_ptr<Cluster>& cluster,
                                               const cls::ParentSpec& spec,
                                               const std::string& child);

}  // namespace rbdfs::core
