// Clones: the parent image a clone reads through to (reference
// rbd-lock-objectmap-clones.md §4.1, §4.3).
//
// A parent is an image at one snapshot, opened read-only: no header watch,
// no lock, no object map kept, never written. One per (pool, namespace,
// image, snapshot) per process, shared by every child that uses it while
// any does (Cluster::share). A parent that is itself a clone opens its own
// parent the same way, to any depth. Internal to core/.
#pragma once

#include <rados/librados.hpp>

#include <memory>
#include <string>

#include "core/cls_rbd.h"
#include "core/cluster.h"
#include "core/header.h"
#include "core/result.h"

namespace rbdfs::core {

class ImageImpl;

// The parent `spec` of the clone `child` ("pool/name", for the log).
// ENOENT: the parent pool or image is gone (one log line says which).
Result<std::shared_ptr<ImageImpl>> open_parent(const std::shared_ptr<Cluster>& cluster,
                                               const cls::ParentSpec& spec,
                                               const std::string& child);

// A clone leaves its parent's books (removal, flatten): v2: child_detach on
// the parent's header, and a parent snapshot in the snapshot trash goes
// with its last clone, as librbd does; v1: remove_child on rbd_children.
Status detach_from_parent(const std::shared_ptr<Cluster>& cluster, librados::IoCtx& child_md,
                          const ImageHeader& child);

// "pool[/namespace]/image@snapshot" of `spec` (ids where names are gone).
Result<std::string> parent_name(Cluster& cluster, const cls::ParentSpec& spec);

}  // namespace rbdfs::core
