#include "test_hooks.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

namespace fastappkit::util {

namespace {

std::filesystem::path hook_path(std::string_view name, const char* variable = "FASTAPPKIT_TEST_HOLD_DIR") {
  const char* dir = std::getenv(variable);
  if (!dir || !*dir) return {};
  return std::filesystem::path(dir) / std::string(name);
}

}  // namespace

void test_touch(std::string_view name) {
  if (auto p = hook_path(name); !p.empty()) std::ofstream(p).put('\n');
}

void test_mark(std::string_view name) {
  if (auto p = hook_path(name, "FASTAPPKIT_TEST_MARK_DIR"); !p.empty()) std::ofstream(p).put('\n');
}

void test_hold(std::string_view name) {
  auto p = hook_path(name);
  if (p.empty()) return;
  std::ofstream(p).put('\n');
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::filesystem::exists(p) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

}  // namespace fastappkit::util
