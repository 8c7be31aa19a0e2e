// Reading a range of a source (file, block device, NBD export, image format)
// window by window, cut into blocks of kDigestBlock bytes on the range's own
// grid, its extents mapped an extent window at a time as the scan reaches them. A block that lies wholly in a hole is never read; a block that is
// partly hole has its hole bytes zeroed in the buffer. checksum() hashes the
// blocks, verify compares two ranges block by block.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "aligned_buffer.h"
#include "block_digest.h"
#include "extent_window.h"
#include "page_cache.h"
#include "request.h"
#include "source.h"
#include "status.h"

namespace blockcopy {

struct ScanWindow {
  uint64_t start = 0;   // relative to the range start, a multiple of kDigestBlock
  uint64_t length = 0;  // 0: the range is done
  uint64_t data_bytes = 0;  // of them, bytes inside data extents (read)
  std::vector<char> hole;   // per block: wholly in a hole, so not read
  std::unique_ptr<AlignedBuffer> buf;  // block i at data() + i * kDigestBlock, for blocks not in a hole

  size_t blocks() const { return hole.size(); }
  size_t block_length(size_t i) const {
    const uint64_t at = static_cast<uint64_t>(i) * kDigestBlock;
    return static_cast<size_t>(length - at < kDigestBlock ? length - at : kDigestBlock);
  }
  const unsigned char* block(size_t i) const { return buf->data() + static_cast<size_t>(i) * kDigestBlock; }
};

class BlockScan {
 public:
  // `name` is the offset option as the caller spelt it, for the range error.
  // `clamp`: a range reaching past the end is cut at the end instead (what a
  // resuming receiver holds of an image may be less than all of it).
  Status open(const Target& target, uint64_t offset, std::optional<uint64_t> length, const char* name, bool clamp = false);
  uint64_t length() const { return length_; }
  // The data bytes of the range, the part not mapped yet counted as data (extent_window.h).
  uint64_t data_bound() const { return map_.data_bound(); }
  const Source& source() const { return source_; }

  // The next window into `w` (its buffer is reused); w->length == 0 once the range is done.
  Status next(ScanWindow* w);

 private:
  Status read_window(ScanWindow* w, uint64_t start, uint64_t end);

  Source source_;
  uint64_t offset_ = 0, length_ = 0;
  uint64_t next_start_ = 0;  // relative
  ExtentWindow map_;
  size_t index_ = 0;  // first extent of the map's window that may still overlap what is left
  std::optional<ReadBehind> read_behind_;
};

// Blocks per window: enough for long sequential reads, small enough that two
// windows (one read while the other is hashed) stay at 32 MiB.
constexpr size_t kScanWindowBlocks = 256;
// So a scan window lies inside one extent window.
static_assert(kExtentWindow % (kScanWindowBlocks * uint64_t{kDigestBlock}) == 0);

}  // namespace blockcopy
