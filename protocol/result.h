// Result<T>: a value or a std::error_code (GCC 12 has no std::expected; STYLE.md "Errors").
#pragma once

#include <system_error>

#include <tl/expected.hpp>

#include "protocol/errors.h"

namespace camproxy::protocol {

template <class T>
using Result = tl::expected<T, std::error_code>;

inline tl::unexpected<std::error_code> fail(ProtoErr e) noexcept {
  return tl::unexpected<std::error_code>(make_error_code(e));
}

}  // namespace camproxy::protocol
