// What an NBD server's replies must be before blockcopy believes them. The
// protocol (proto.md) leaves a client to check; a reply that passes here
// can cost no wrong byte: a read's chunks cover its request exactly once,
// and block status is contiguous extents from the request's start, of which
// only the last may run past its end.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "extent_map.h"

namespace blockcopy {

// The parts of one read request its data and hole chunks have filled so far.
// Counting the total alone would take a chunk sent twice for one never sent.
class ReadCoverage {
 public:
  // [at, at + length) of the request, relative to its start and inside it.
  // False when it overlaps a part already covered, or when the reply comes
  // in more disjoint pieces than any server would need (a peer making us
  // allocate without bound).
  bool add(uint64_t at, uint64_t length);
  uint64_t bytes() const { return bytes_; }

 private:
  std::map<uint64_t, uint64_t> pieces_;  // start -> end, disjoint; adjacent ones merged
  uint64_t bytes_ = 0;
};

// The extents of one base:allocation chunk for a request of [offset, offset +
// length): `count` descriptors of (length, flags) at `descriptors`, appended
// to `out`, the last clipped at the request's end. Empty `*why` when they
// are believable, else what was wrong.
void read_status_extents(const char* descriptors, uint32_t count, uint64_t offset, uint64_t length,
                         std::vector<Extent>* out, std::string* why);

}  // namespace blockcopy
