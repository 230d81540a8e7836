#pragma once
namespace camproxy::proxy {
inline constexpr const char* kVersion = "0.1.0";
}
