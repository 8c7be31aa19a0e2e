// Fault injection, for tests only. An engine built with
// BLOCKCOPY_FAULT_INJECTION (binding.gyp's faults=true; never the release
// build) fails any read or write that touches a chosen file offset with EIO,
// as a bad sector would. The offset comes from the environment:
//   BLOCKCOPY_FAULT=read:OFFSET    a source read covering OFFSET fails
//   BLOCKCOPY_FAULT=write:OFFSET   a destination write covering OFFSET fails
#pragma once

#include <cstdint>

namespace blockcopy {

enum class FaultOp { Read, Write, Writeback };

#ifdef BLOCKCOPY_FAULT_INJECTION
// True when [offset, offset + length) of this operation must fail.
bool fault_at(FaultOp op, uint64_t offset, uint64_t length);
#else
constexpr bool fault_at(FaultOp, uint64_t, uint64_t) { return false; }
#endif

}  // namespace blockcopy
