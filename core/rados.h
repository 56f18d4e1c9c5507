// librados behind core's public types: the one header that completes the
// opaque handles of Cluster and Pool and declares what takes librados
// types. Internal to core/ (and the tools built on it); fuse/ never
// includes it, so no librados type reaches the FUSE layer.
#pragma once

#include <rados/librados.hpp>

#include <string>

#include "core/cluster.h"
#include "core/header.h"
#include "core/pool.h"
#include "core/read_data.h"
#include "core/result.h"

namespace rbdfs::core {

struct Cluster::Rados {
  librados::Rados r;
};
inline librados::Rados& rados(Cluster& c) { return c.rados_handle().r; }

// ENOENT when the pool does not exist.
Result<librados::IoCtx> open_ioctx(Cluster& c, const std::string& pool);
Result<librados::IoCtx> open_ioctx(Cluster& c, int64_t pool_id);

struct Pool::Io {
  librados::IoCtx io;
};
inline librados::IoCtx& ioctx(Pool& p) { return p.io_handle().io; }
// The ioctx holding an image's data objects (its data pool, or this pool).
Result<librados::IoCtx> data_ioctx(Pool& p, const ImageHeader& h);

struct ReadData::Part {
  ObjectExtent ext;
  librados::bufferlist bl;  // the object's reply
};

// Reads an image's header through cls "rbd" (no Image needed). EIO with one
// log line for a malformed reply; ENOENT for a missing header. An image
// rbdfs cannot read still yields its header, with unreadable_reason set.
Result<ImageHeader> read_header(librados::IoCtx& md, const std::string& pool,
                                const std::string& name, const std::string& id);

}  // namespace rbdfs::core
