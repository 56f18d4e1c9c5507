#!/bin/bash
# io_uring_run.sh TEST.sh [args]: runs a cluster test with every mount it
# makes through mount_rbdfs (lib.sh) taking its FUSE requests over io_uring
# (--io-uring), each checked to really do so (user.rbdfs.fuse). The
# kernel's switch, the fuse module's enable_uring parameter, is turned on
# for the run and back to what it was after. Without it (Linux before
# 6.14, a fuse module without io_uring, no root): exit 77, which CTest
# shows as skipped. CTest runs these tests one at a time (RESOURCE_LOCK).
set -euo pipefail
param=/sys/module/fuse/parameters/enable_uring
if [ ! -w "$param" ]; then
  echo "skipped: $param is missing or not writable (FUSE over io_uring needs Linux 6.14+, as root)"
  exit 77
fi
old=$(cat "$param")
trap 'echo "$old" >"$param"' EXIT
trap 'exit 143' TERM INT
echo Y >"$param"
rc=0
RBDFS_MOUNT_EXTRA="--io-uring ${RBDFS_MOUNT_EXTRA:-}" RBDFS_EXPECT_TRANSPORT=io_uring "$@" || rc=$?
exit $rc
