// Whole-buffer positional reads and writes for the pread/pwrite backend:
// short transfers are continued, EINTR is retried.
#pragma once

#include <cstddef>
#include <cstdint>

#include "status.h"

namespace blockcopy {

// Reads until `length` bytes or end of file; `*got` says how many arrived.
Status read_fully(int fd, unsigned char* buf, size_t length, uint64_t offset, size_t* got);
Status write_fully(int fd, const unsigned char* buf, size_t length, uint64_t offset);

}  // namespace blockcopy
