// Fault injection, for tests only. An engine built with
// BLOCKCOPY_FAULT_INJECTION (binding.gyp's faults=true; never the release
// build) fails any read or write that touches a chosen file offset with EIO,
// as a bad sector would. The offset comes from the environment:
//   BLOCKCOPY_FAULT=read:OFFSET    a source read covering OFFSET fails
//   BLOCKCOPY_FAULT=write:OFFSET   a destination write covering OFFSET fails
//   BLOCKCOPY_FAULT=corrupt:OFFSET a pread/pwrite-path write covering OFFSET
//                                  succeeds, but the byte at OFFSET lands
//                                  inverted: the silent corruption verify is for
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <vector>

namespace blockcopy {

enum class FaultOp { Read, Write, Writeback, Corrupt };

#ifdef BLOCKCOPY_FAULT_INJECTION
// True when [offset, offset + length) of this operation must fail.
bool fault_at(FaultOp op, uint64_t offset, uint64_t length);
// A write of `pieces` at `offset` to `fd` has landed: if the chosen byte is
// among them, it is written again inverted.
void corrupt_if_chosen(int fd, uint64_t offset, const std::vector<iovec>& pieces);
#else
constexpr bool fault_at(FaultOp, uint64_t, uint64_t) { return false; }
inline void corrupt_if_chosen(int, uint64_t, const std::vector<iovec>&) {}
#endif

}  // namespace blockcopy
