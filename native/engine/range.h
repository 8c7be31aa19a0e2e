// Checking an (offset, length) request against the size of what it reads from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "status.h"

namespace blockcopy {

// Resolves an unset length to "to the end" and refuses ranges past the end.
// `name` is the option as the caller spelt it ("srcOffset", "offset").
inline Status resolve_range(uint64_t size, uint64_t offset, std::optional<uint64_t> length,
                            const char* name, uint64_t* resolved) {
  const std::string size_text = std::to_string(size) + " bytes";
  if (offset > size)
    return Status::OutOfRange(std::string(name) + " (" + std::to_string(offset) +
                              ") is past the end of the source (" + size_text + ")");
  *resolved = length ? *length : size - offset;
  if (*resolved > size - offset)
    return Status::OutOfRange(std::string(name) + " + length (" + std::to_string(offset + *resolved) +
                              ") is past the end of the source (" + size_text + ")");
  return Status::Ok();
}

}  // namespace blockcopy
