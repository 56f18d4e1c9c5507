// The single table of libfuse low-level operations.
#pragma once

#include "fuse/filesystem.h"

namespace rbdfs::ll {

fuse_lowlevel_ops make_operations();

}  // namespace rbdfs::ll
