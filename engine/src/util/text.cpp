#include "fastappkit/util/text.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "fastappkit/error.hpp"

namespace fastappkit {

int exit_code_for(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::usage:
    case ErrorKind::input:
      return 2;
    case ErrorKind::database:
    case ErrorKind::failed:
      return 1;
  }
  return 1;
}

namespace {
std::string located_text(const SourceLocation& where, const std::string& message, std::string_view source) {
  if (where.line < 1) return where.file + ": " + message;
  std::string text;
  if (source.empty() && where.line > 0) {
    std::ifstream in(where.file, std::ios::binary);
    if (in) {
      std::ostringstream ss;
      ss << in.rdbuf();
      text = ss.str();
      source = text;
    }
  }
  return util::diagnostic(where.file, source, where.line, where.column, message);
}
}  // namespace

Error::Error(ErrorKind kind, SourceLocation where, std::string message, std::string hint, std::string_view source)
    : std::runtime_error(located_text(where, message, source)),
      kind_(kind),
      message_(std::move(message)),
      hint_(std::move(hint)),
      location_(std::move(where)) {}

namespace util {

std::string diagnostic(const std::string& path, std::string_view source, int line, int col,
                       const std::string& message) {
  std::string out = path + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + message;
  if (line < 1) return out;
  std::size_t start = 0;
  for (int l = 1; l < line && start != std::string_view::npos; ++l) {
    start = source.find('\n', start);
    if (start != std::string_view::npos) ++start;
  }
  if (start == std::string_view::npos || start > source.size()) return out;
  std::size_t end = source.find('\n', start);
  std::string_view text = source.substr(start, end == std::string_view::npos ? source.size() - start : end - start);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  out += "\n    " + std::string(text) + "\n    ";
  for (int c = 1; c < col && c <= static_cast<int>(text.size()); ++c) out += text[c - 1] == '\t' ? '\t' : ' ';
  out += '^';
  return out;
}

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of
// neighbours ("blgo" is one edit from "blog").
static std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_d = 0;
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (best.empty() || d < best_d) {
      best = c;
      best_d = d;
    }
  }
  // Allow roughly one edit per three characters, at least one.
  std::size_t limit = std::max<std::size_t>(1, word.size() / 3);
  return (!best.empty() && best_d <= limit) ? best : std::string();
}

std::string json_escape(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

std::string read_file(const std::string& path) {
  // open/fstat/read: one allocation of the file's size, no stream buffers (every revision file
  // of a project is read on every command).
  auto fail = [&] {
    return Error(ErrorKind::input, "cannot read " + path, "check that the file exists and is readable");
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw fail();
  struct stat st {};
  std::string out;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<std::size_t>(st.st_size));
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      throw fail();
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::uint64_t fnv1a64(std::string_view data) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

bool is_valid_app_name(std::string_view name) {
  if (name.empty() || name.size() > 48) return false;
  if (name[0] < 'a' || name[0] > 'z') return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

}  // namespace util
}  // namespace fastappkit

namespace fastappkit::util {

std::string run_filter(const std::string& program, const std::vector<std::string>& args, const std::string& input,
                       const std::string& missing_hint) {
  namespace fs = std::filesystem;
  std::string found;
  if (const char* path = std::getenv("PATH")) {
    std::istringstream dirs(path);
    for (std::string d; std::getline(dirs, d, ':') && found.empty();) {
      fs::path p = fs::path(d.empty() ? "." : d) / program;
      if (::access(p.c_str(), X_OK) == 0) found = p.string();
    }
  }
  if (found.empty()) throw Error(ErrorKind::failed, program + " was not found on PATH", missing_hint);
  // The input and the error output go through files, so no shell ever sees user text.
  char dir_template[] = "/tmp/fastappkit-filter-XXXXXX";
  if (!::mkdtemp(dir_template)) throw Error(ErrorKind::failed, "cannot make a temporary folder for " + program);
  const fs::path dir = dir_template, in = dir / "in", err = dir / "err";
  std::ofstream(in, std::ios::binary) << input;
  std::string command = "'" + found + "'";
  for (const auto& a : args) command += " '" + a + "'";
  command += " < '" + in.string() + "' 2> '" + err.string() + "'";
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  int status = -1;
  if (pipe) {
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
    status = ::pclose(pipe);
  }
  std::ifstream e(err, std::ios::binary);
  std::string message((std::istreambuf_iterator<char>(e)), std::istreambuf_iterator<char>());
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (status != 0)
    throw Error(ErrorKind::failed,
                program + " failed: " + (message.empty() ? "exit status " + std::to_string(status) : message));
  return out;
}

}  // namespace fastappkit::util
