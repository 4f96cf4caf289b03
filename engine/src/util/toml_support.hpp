#pragma once
// Private: toml++ declarations (its implementation is compiled once, in toml_impl.cpp) and
// helpers that turn a node's position into a "file:line:col" diagnostic.
#ifndef TOML_HEADER_ONLY
#define TOML_HEADER_ONLY 0
#endif
#ifndef TOML_ENABLE_FORMATTERS
#define TOML_ENABLE_FORMATTERS 0
#endif
// toml++ 3.3.0 (Debian 12) asserts on some malformed input, e.g. "a = [\n 1,\n } 2]": an abort
// in a debug build and, with NDEBUG, an __builtin_assume that is false: undefined behaviour.
// Its checks sit in noexcept code, so they cannot throw; they are turned off instead, and the
// parser then goes on to report the input as invalid TOML like any other error (found by
// tests/unit/test_fuzz_parsers.cpp).
#include <toml++/impl/preprocessor.h>
#undef TOML_ASSERT
#undef TOML_ASSERT_ASSUME
#define TOML_ASSERT(expr) static_cast<void>(0)
#define TOML_ASSERT_ASSUME(expr) static_cast<void>(0)
#include <toml++/toml.h>

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fastappkit/error.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::util {

// Carries the file's text so every message can quote the offending line.
struct TomlSource {
  std::string path;
  std::string_view text;

  std::string at(const toml::source_region& where, const std::string& message) const {
    return diagnostic(path, text, static_cast<int>(where.begin.line), static_cast<int>(where.begin.column), message);
  }
  [[noreturn]] void fail(const toml::source_region& where, const std::string& message, std::string hint = {}) const {
    throw Error(ErrorKind::input,
                SourceLocation{path, static_cast<int>(where.begin.line), static_cast<int>(where.begin.column)}, message,
                std::move(hint), text);
  }

  toml::table parse() const {
    try {
      return toml::parse(text, path);
    } catch (const toml::parse_error& e) {
      fail(e.source(), "invalid TOML: " + std::string(e.description()), "fix the TOML syntax at that position");
    }
  }

  // Refuses keys outside `allowed`, so a typo never passes silently.
  void check_keys(const toml::table& t, std::initializer_list<std::string_view> allowed,
                  const std::string& what) const {
    for (const auto& [k, v] : t) {
      if (std::find(allowed.begin(), allowed.end(), k.str()) != allowed.end()) continue;
      std::vector<std::string> names(allowed.begin(), allowed.end());
      std::string hint = did_you_mean(k.str(), names);
      fail(k.source(), "unknown key '" + std::string(k.str()) + "' in " + what,
           hint.empty() ? "allowed keys: " + join(names, ", ") : "did you mean '" + hint + "'?");
    }
  }

  std::string str(const toml::node& n, const std::string& what) const {
    if (auto s = n.as_string()) return s->get();
    fail(n.source(), what + " must be a string");
  }
  std::optional<std::string> opt_str(const toml::table& t, std::string_view key, const std::string& what) const {
    if (auto n = t.get(key)) return str(*n, what + "." + std::string(key));
    return std::nullopt;
  }
  std::string req_str(const toml::table& t, std::string_view key, const std::string& what,
                      const toml::source_region& where) const {
    if (auto n = t.get(key)) return str(*n, what + "." + std::string(key));
    fail(where, what + " needs '" + std::string(key) + "'");
  }
  std::optional<bool> opt_bool(const toml::table& t, std::string_view key, const std::string& what) const {
    if (auto n = t.get(key)) {
      if (auto b = n->as_boolean()) return b->get();
      fail(n->source(), what + "." + std::string(key) + " must be true or false");
    }
    return std::nullopt;
  }
  std::optional<int> opt_int(const toml::table& t, std::string_view key, const std::string& what) const {
    if (auto n = t.get(key)) {
      if (auto i = n->as_integer(); i && i->get() >= 0 && i->get() <= 1000000000) return static_cast<int>(i->get());
      fail(n->source(), what + "." + std::string(key) + " must be a non-negative integer");
    }
    return std::nullopt;
  }
  // A string or an array of strings (as down_revision may be).
  std::vector<std::string> str_list(const toml::node& n, const std::string& what, bool allow_single = false) const {
    std::vector<std::string> out;
    if (allow_single && n.is_string()) {
      out.push_back(n.as_string()->get());
      return out;
    }
    auto arr = n.as_array();
    if (!arr)
      fail(n.source(),
           what + (allow_single ? " must be a string or an array of strings" : " must be an array of strings"));
    for (const auto& e : *arr) out.push_back(str(e, what + " item"));
    return out;
  }
  std::vector<std::string> opt_str_list(const toml::table& t, std::string_view key, const std::string& what) const {
    if (auto n = t.get(key)) return str_list(*n, what + "." + std::string(key));
    return {};
  }
};

}  // namespace fastappkit::util
