#!/bin/bash
# man/rbdfs.8 renders without warnings and documents every option that
# `rbdfs --help` lists, the tree, and the errors.
set -euo pipefail
SRC=${RBDFS_SOURCE_DIR:?}
RBDFS=${RBDFS_BIN:?}
page=$(MANWIDTH=100 man --warnings -l "$SRC/man/rbdfs.8" 2>"${TMPDIR:-/tmp}/man.warn.$$")
if [ -s "${TMPDIR:-/tmp}/man.warn.$$" ]; then
  cat "${TMPDIR:-/tmp}/man.warn.$$"; rm -f "${TMPDIR:-/tmp}/man.warn.$$"
  echo "FAIL: man page has warnings"; exit 1
fi
rm -f "${TMPDIR:-/tmp}/man.warn.$$"
missing=0
for o in $("$RBDFS" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u); do
  grep -q -- "$o" <<<"$page" || { echo "FAIL: option $o is not in the man page"; missing=1; }
done
for word in ENOENT EPERM EROFS EINVAL EXDEV EBUSY EOPNOTSUPP ".snap" "fuse.rbdfs" fstab losetup SEEK_DATA; do
  grep -q -- "$word" <<<"$page" || { echo "FAIL: '$word' is not in the man page"; missing=1; }
done
[ $missing = 0 ] && echo "ok: man page documents every option"
exit $missing
