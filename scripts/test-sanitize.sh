#!/usr/bin/env bash
# npm run test:sanitize — the vitest suite against an addon built with
# AddressSanitizer and UndefinedBehaviorSanitizer. Node itself is not built
# with ASan, so the runtime is preloaded; leak checking is left to valgrind
# (Node keeps memory at exit that LeakSanitizer would report).
# The packaging test is left out: it compiles under the preloaded runtime.
set -euo pipefail
cd "$(dirname "$0")/.."

restore() { npx node-gyp rebuild >/dev/null 2>&1 || echo "test:sanitize: could not rebuild the normal addon; run npm run compile" >&2; }
trap restore EXIT

npx node-gyp rebuild -- -Dsanitize=true >/dev/null
npm run build:ts --silent  # clears dist/ first: a stale file there could shadow a moved one

# The preloaded runtime would reach every program the tests and the engine
# start, and qemu-img hangs under it: the NBD and image tools run through
# wrappers, first in PATH, that drop it (exec keeps the PID, so qemu-nbd's
# socket activation still matches).
wrappers="$(mktemp -d)"
trap 'rm -rf "$wrappers"; restore' EXIT
for tool in qemu-img qemu-nbd nbdkit nbdcopy nbdinfo; do
  real="$(command -v "$tool" || true)"
  [ -n "$real" ] || continue
  printf '#!/bin/sh\nunset LD_PRELOAD\nexec %s "$@"\n' "$real" > "$wrappers/$tool"
  chmod +x "$wrappers/$tool"
done
export PATH="$wrappers:$PATH"

asan="$(gcc -print-file-name=libasan.so)"
ubsan="$(gcc -print-file-name=libubsan.so)"
LD_PRELOAD="$asan $ubsan" \
ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1" \
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
  node node_modules/vitest/vitest.mjs run --exclude test/package.test.ts "$@"
