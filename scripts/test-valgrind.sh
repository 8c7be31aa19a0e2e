#!/usr/bin/env bash
# npm run test:valgrind — memcheck over a small workload (valgrind-workload.cjs):
# no invalid accesses, no uninitialised reads, nothing definitely lost.
# io_uring is switched off here: valgrind cannot see the kernel fill buffers
# through the ring, so every read into them would look uninitialised. The
# io_uring path is covered by the AddressSanitizer run instead.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "test:valgrind: valgrind is not installed" >&2; exit 1; }
log="$(mktemp)"
status=0
BLOCKCOPY_DISABLE_IO_URING=1 valgrind --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
  --num-callers=30 --error-exitcode=99 --log-file="$log" node scripts/valgrind-workload.cjs || status=$?
grep -E "ERROR SUMMARY|definitely lost" "$log" | sed 's/^==[0-9]*== //'
rm -f "$log"
exit "$status"
