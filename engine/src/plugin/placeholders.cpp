// The C ABI's one placeholder convention on PostgreSQL (plugin_abi.h).
#include <cctype>
#include <string>
#include <string_view>

#include "fastappkit/error.hpp"
#include "fastappkit/plugin/host.hpp"

namespace fastappkit::plugin {

namespace {

bool ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || static_cast<unsigned char>(c) >= 0x80;
}

}  // namespace

// The placeholder convention of the C ABI (plugin_abi.h): `?` on both backends. PostgreSQL
// wants $1, $2, ...: each `?` outside string literals ('...', E'...'), quoted identifiers,
// comments (--, nested /* */) and dollar-quoted bodies ($$...$$, $tag$...$tag$) is numbered.
// `?|` and `?&` are JSONB operators and stay; `??` is the JSONB operator `?`. Without
// parameters nothing is rewritten.
std::string number_placeholders(std::string_view sql, std::size_t param_count) {
  if (param_count == 0) return std::string(sql);
  std::string out;
  std::size_t n = 0, i = 0;
  const std::size_t size = sql.size();
  auto copy_to = [&](std::size_t end) {
    end = std::min(end, size);
    out.append(sql.substr(i, end - i));
    i = end;
  };
  while (i < size) {
    const char c = sql[i];
    const char next = i + 1 < size ? sql[i + 1] : '\0';
    if (c == '-' && next == '-') {
      std::size_t e = sql.find('\n', i);
      copy_to(e == std::string_view::npos ? size : e);
    } else if (c == '/' && next == '*') {
      std::size_t j = i + 2;
      int depth = 1;
      while (j < size && depth > 0) {
        if (sql[j] == '/' && j + 1 < size && sql[j + 1] == '*')
          depth++, j += 2;
        else if (sql[j] == '*' && j + 1 < size && sql[j + 1] == '/')
          depth--, j += 2;
        else
          ++j;
      }
      copy_to(j);
    } else if (c == '\'' || c == '"') {
      // E'...' takes backslash escapes; elsewhere a doubled quote is the quote itself.
      const bool backslash =
          c == '\'' && i > 0 && (sql[i - 1] == 'E' || sql[i - 1] == 'e') && (i < 2 || !ident_char(sql[i - 2]));
      std::size_t j = i + 1;
      while (j < size) {
        if (backslash && sql[j] == '\\') {
          j += 2;
        } else if (sql[j] == c) {
          if (j + 1 < size && sql[j + 1] == c)
            j += 2;
          else {
            ++j;
            break;
          }
        } else {
          ++j;
        }
      }
      copy_to(j);
    } else if (c == '$' && !(i > 0 && ident_char(sql[i - 1])) && !std::isdigit(static_cast<unsigned char>(next))) {
      std::size_t j = i + 1;
      while (j < size && ident_char(sql[j])) ++j;
      if (j < size && sql[j] == '$') {
        std::string_view tag = sql.substr(i, j - i + 1);
        std::size_t close = sql.find(tag, j + 1);
        copy_to(close == std::string_view::npos ? size : close + tag.size());
      } else {
        copy_to(i + 1);
      }
    } else if (c == '?' && (next == '|' || next == '&')) {
      copy_to(i + 2);
    } else if (c == '?' && next == '?') {
      out += '?';
      i += 2;
    } else if (c == '?') {
      out += "$" + std::to_string(++n);
      ++i;
    } else {
      copy_to(i + 1);
    }
  }
  if (n != param_count)
    throw std::invalid_argument("the statement has " + std::to_string(n) + " ? placeholder(s) but " +
                                std::to_string(param_count) +
                                " parameter(s) were given (write ?? for PostgreSQL's JSONB ? operator)");
  return out;
}
}  // namespace fastappkit::plugin
