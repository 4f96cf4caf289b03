#pragma once
namespace fastappkit {
inline constexpr const char* kVersion = "0.1.0";
}
