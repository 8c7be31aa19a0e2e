// Whole-buffer positional reads and writes for the pread/pwrite backend:
// short transfers are continued, EINTR is retried.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "status.h"

namespace blockcopy {

// Reads until `length` bytes or end of file; `*got` says how many arrived.
Status read_fully(int fd, unsigned char* buf, size_t length, uint64_t offset, size_t* got);
Status write_fully(int fd, const unsigned char* buf, size_t length, uint64_t offset);
// Writes every piece, in order, from `offset` on; `*written` counts the bytes
// that landed, also when it fails part way.
Status write_gathered_fully(int fd, std::vector<iovec> pieces, uint64_t offset, uint64_t* written);

}  // namespace blockcopy
