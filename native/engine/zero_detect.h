// Finding all-zero blocks in data just read, so `sparse: 'always'` can leave holes.
#pragma once

#include <cstddef>

namespace blockcopy {

bool is_all_zero(const unsigned char* data, size_t length);

}  // namespace blockcopy
