// Early-return helpers for decoders (include from .cc files only).
#pragma once

#include <utility>

#include "protocol/result.h"

#define CAMPROXY_CONCAT_INNER(a, b) a##b
#define CAMPROXY_CONCAT(a, b) CAMPROXY_CONCAT_INNER(a, b)

// Evaluates a Result-returning expression; on error returns that error from the
// enclosing function, else assigns the value to `lhs`.
#define CAMPROXY_TRY_ASSIGN(lhs, expr)                                                      \
  auto CAMPROXY_CONCAT(try_result_, __LINE__) = (expr);                                     \
  if (!CAMPROXY_CONCAT(try_result_, __LINE__))                                              \
    return tl::unexpected<std::error_code>(CAMPROXY_CONCAT(try_result_, __LINE__).error()); \
  lhs = std::move(*CAMPROXY_CONCAT(try_result_, __LINE__))

// Same for a Result whose value is not needed (Result<void> included).
#define CAMPROXY_TRY(expr)                                                         \
  do {                                                                             \
    auto try_result_ = (expr);                                                     \
    if (!try_result_) return tl::unexpected<std::error_code>(try_result_.error()); \
  } while (false)
