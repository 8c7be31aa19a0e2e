// How a destination range was made to read as zeros, counted apart from the
// data written, so a summary can say "4 GiB zeroed by WRITE_ZEROES" rather
// than "4 GiB written" for a few MiB of data.
#pragma once

#include <cstdint>

namespace blockcopy {

// In the order of ZERO_METHODS in lib/types.ts: the binding passes a bit per method.
enum class ZeroMethod : uint32_t { WriteZeroes, PunchHole, ZeroRange, BlkZeroOut, ZerosWritten };

struct Zeroing {
  uint64_t bytes = 0;
  uint32_t methods = 0;  // bit (1 << method) for each way used

  void add(ZeroMethod method, uint64_t n) {
    if (n == 0) return;
    bytes += n;
    methods |= 1u << static_cast<uint32_t>(method);
  }
  void add(const Zeroing& other) {
    bytes += other.bytes;
    methods |= other.methods;
  }
};

}  // namespace blockcopy
