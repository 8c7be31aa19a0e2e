#include "verify.h"

#include <cstring>
#include <string>

#include "block_scan.h"
#include "page_cache.h"
#include "zero_detect.h"

namespace blockcopy {

namespace {

// The first byte at which two blocks differ, or `length` when they match.
size_t first_difference_in(const ScanWindow& a, const ScanWindow& b, size_t i) {
  const size_t length = a.block_length(i);
  if (a.hole[i] && b.hole[i]) return length;
  if (a.hole[i] || b.hole[i]) {
    const unsigned char* data = a.hole[i] ? b.block(i) : a.block(i);
    if (is_all_zero(data, length)) return length;
    size_t at = 0;
    while (data[at] == 0) at++;
    return at;
  }
  if (std::memcmp(a.block(i), b.block(i), length) == 0) return length;
  size_t at = 0;
  while (a.block(i)[at] == b.block(i)[at]) at++;
  return at;
}

Status mismatch(const VerifyRange& range, uint64_t at) {
  const uint64_t block = at / kDigestBlock;
  return Status::Coded("ERR_BLOCKCOPY_VERIFY",
                       "verification failed: the destination differs from the source at byte " + std::to_string(at) +
                           " of the range (destination offset " + std::to_string(range.dst_offset + at) +
                           ", source offset " + std::to_string(range.src_offset + at) + "), in block " +
                           std::to_string(block) + " of " + std::to_string(kDigestBlock) + " bytes");
}

}  // namespace

Status verify_range(const VerifyRange& range, CopyControl& control, ReportSchedule& schedule, ProgressSink* sink,
                    uint64_t* known_equal) {
  *known_equal = 0;
  control.meter.start_verify();
  BlockScan src, dst;
  Status s = src.open(range.src, range.src_offset, range.length, "srcOffset");
  if (s.ok()) s = dst.open(range.dst, range.dst_offset, range.length, "dstOffset");
  if (!s.ok()) return s;
  // What the copy left in the cache would only show the cache its own bytes.
  if (through_page_cache(dst.source().info(), false)) {
    s = evict_range(dst.source().fd(), range.dst_offset, range.length, Side::Destination);
    if (!s.ok()) return s;
  }
  ScanWindow a, b;
  for (;;) {
    s = src.next(&a);
    if (s.ok()) s = dst.next(&b);
    if (!s.ok()) return s;
    if (a.length == 0) {
      *known_equal = range.length;
      return s;
    }
    for (size_t i = 0; i < a.blocks(); i++) {
      const size_t at = first_difference_in(a, b, i);
      if (at == a.block_length(i)) continue;
      *known_equal = a.start + static_cast<uint64_t>(i) * kDigestBlock + at;
      return mismatch(range, *known_equal);
    }
    *known_equal = a.start + a.length;
    control.meter.add_verified(a.length);
    schedule.tick(control, sink);
    if (control.cancel.requested()) return Status::Ok();
  }
}

}  // namespace blockcopy
