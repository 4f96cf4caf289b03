#include "fastappkit/migration/parse_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <stdexcept>
#include <system_error>
#include <type_traits>

#include "../util/test_hooks.hpp"
#include "fastappkit/util/text.hpp"
#include "fastappkit/version.hpp"

namespace fastappkit::migration {

namespace fs = std::filesystem;

namespace {

// Bumped whenever the byte form changes. The field lists below are the only description of
// it; the size checks make a field added to one of these structs fail the build here until it
// is added to the list (on the platforms the project builds for: 64-bit libstdc++).
constexpr std::uint32_t kFormat = 3;  // 3: entries carry the stat key of the file they were read from
constexpr char kMagic[4] = {'F', 'A', 'K', 'C'};
#if defined(__GLIBCXX__) && defined(__x86_64__)
static_assert(sizeof(ColumnSpec) == 232, "a ColumnSpec field was added: add it to visit(ColumnSpec) and bump kFormat");
static_assert(sizeof(ForeignKey) == 192, "a ForeignKey field was added: add it to visit(ForeignKey) and bump kFormat");
static_assert(sizeof(UniqueConstraint) == 56, "a UniqueConstraint field was added: add it and bump kFormat");
static_assert(sizeof(Operation) == 392, "an Operation field was added: add it to visit(Operation) and bump kFormat");
static_assert(sizeof(OperationExtra) == 272,
              "an OperationExtra field was added: add it to visit(Operation) and bump kFormat");
static_assert(sizeof(Migration) == 336, "a Migration field was added: add it to visit(Migration) and bump kFormat");
#endif

class Writer {
 public:
  std::string out;
  void u64(std::uint64_t v) {  // LEB128: small numbers (most of them) take one byte
    while (v >= 0x80) {
      out.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out.push_back(static_cast<char>(v));
  }
  void bytes(std::string_view s) {
    u64(s.size());
    out.append(s);
  }
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  std::uint64_t u64() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      need(1);
      auto byte = static_cast<unsigned char>(in_[pos_++]);
      v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return v;
    }
    throw std::runtime_error("corrupt number in cache entry");
  }
  std::string_view bytes() {
    std::uint64_t n = u64();
    need(n);
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  void need(std::uint64_t n) const {
    if (n > in_.size() - pos_) throw std::runtime_error("truncated cache entry");
  }
  std::string_view in_;
  std::size_t pos_ = 0;
};

// std::optional and Box: a presence flag, then the value (a Box is stored as the optional it
// was before it moved to the heap).
template <template <class> class Opt, class T>
constexpr bool kOptional = std::is_same_v<Opt<T>, std::optional<T>> || std::is_same_v<Opt<T>, Box<T>>;

// One field list per type serves both directions: Enc writes, Dec reads into the same fields.
struct Enc {
  Writer& w;
  void io(const std::string& s) { w.bytes(s); }
  void io(bool b) { w.u64(b ? 1 : 0); }
  void io(int v) { w.u64(static_cast<std::uint32_t>(v)); }
  template <class E>
  requires std::is_enum_v<E>
  void io(E e) { w.u64(static_cast<std::uint64_t>(e)); }
  template <template <class> class Opt, class T>
  requires kOptional<Opt, T>
  void io(const Opt<T>& o) {
    io(o.has_value());
    if (o) io(*o);
  }
  template <class T>
  void io(const std::vector<T>& v) {
    w.u64(v.size());
    for (const auto& e : v) io(e);
  }
  void io(const std::map<std::string, std::string>& m) {
    w.u64(m.size());
    for (const auto& [k, v] : m) {
      io(k);
      io(v);
    }
  }
  template <class T>
  requires std::is_class_v<T>
  void io(const T& t);
};

struct Dec {
  Reader& r;
  void io(std::string& s) { s = r.bytes(); }
  void io(bool& b) { b = r.u64() != 0; }
  void io(int& v) { v = static_cast<int>(static_cast<std::uint32_t>(r.u64())); }
  template <class E>
  requires std::is_enum_v<E>
  void io(E& e) { e = static_cast<E>(r.u64()); }
  template <template <class> class Opt, class T>
  requires kOptional<Opt, T>
  void io(Opt<T>& o) {
    bool has = false;
    io(has);
    if (!has) {
      o.reset();
      return;
    }
    T v{};
    io(v);
    o = std::move(v);
  }
  template <class T>
  void io(std::vector<T>& v) {
    std::uint64_t n = r.u64();
    if (n > (1u << 24)) throw std::runtime_error("corrupt cache entry");
    v.clear();
    v.resize(n);
    for (auto& e : v) io(e);
  }
  void io(std::map<std::string, std::string>& m) {
    std::uint64_t n = r.u64();
    m.clear();
    for (std::uint64_t i = 0; i < n; ++i) {
      std::string k, v;
      io(k);
      io(v);
      m.emplace(std::move(k), std::move(v));
    }
  }
  template <class T>
  requires std::is_class_v<T>
  void io(T& t);
};

template <class IO, class C>
void visit(IO& io, C& c) requires std::is_same_v<std::remove_const_t<C>, ColumnSpec> {
  io.io(c.name);
  io.io(c.type);
  io.io(c.length);
  io.io(c.precision);
  io.io(c.scale);
  io.io(c.primary_key);
  io.io(c.nullable);
  io.io(c.default_value);
  io.io(c.unique);
  io.io(c.foreign_key);
  io.io(c.on_delete);
  io.io(c.on_update);
}

template <class IO, class F>
void visit(IO& io, F& f) requires std::is_same_v<std::remove_const_t<F>, ForeignKey> {
  io.io(f.name);
  io.io(f.columns);
  io.io(f.references_table);
  io.io(f.references_columns);
  io.io(f.on_delete);
  io.io(f.on_update);
}

template <class IO, class U>
void visit(IO& io, U& u) requires std::is_same_v<std::remove_const_t<U>, UniqueConstraint> {
  io.io(u.name);
  io.io(u.columns);
}

template <class IO, class O>
void visit(IO& io, O& op) requires std::is_same_v<std::remove_const_t<O>, Operation> {
  io.io(op.kind);
  io.io(op.line);
  io.io(op.col);
  io.io(op.comment);
  io.io(op.lint_ignore);
  io.io(op.table);
  io.io(op.name);
  io.io(op.new_name);
  io.io(op.columns);
  io.io(op.primary_key);
  io.io(op.foreign_keys);
  io.io(op.uniques);
  io.io(op.column);
  io.io(op.column_name);
  io.io(op.new_type);
  io.io(op.length);
  io.io(op.precision);
  io.io(op.scale);
  io.io(op.nullable);
  io.io(op.new_default);
  io.io(op.index_columns);
  io.io(op.unique);
  io.io(op.concurrently);
  io.io(op.not_valid);
  // The boxed members, in the byte form's order as when they were inline; a decoded operation
  // gets a box only when one of them is set.
  auto extra = [&io](auto& x) {
    io.io(x.condition);
    io.io(x.references_table);
    io.io(x.references_columns);
    io.io(x.on_delete);
    io.io(x.on_update);
    io.io(x.sql);
    io.io(x.function);
    io.io(x.args);
  };
  if constexpr (std::is_const_v<O>) {
    extra(op.extra());
  } else {
    OperationExtra x;
    extra(x);
    if (!(x == OperationExtra{})) op.edit_extra() = std::move(x);
  }
}

template <class IO, class M>
void visit(IO& io, M& m) requires std::is_same_v<std::remove_const_t<M>, Migration> {
  io.io(m.revision);
  io.io(m.down_revisions);
  io.io(m.depends_on);
  io.io(m.branch_labels);
  io.io(m.message);
  io.io(m.create_date);
  io.io(m.app);
  io.io(m.transactional);
  io.io(m.upgrade);
  io.io(m.downgrade);
  io.io(m.path);
  io.io(m.checksum);
  io.io(m.down_line);
  io.io(m.down_col);
  io.io(m.depends_line);
  io.io(m.depends_col);
}

template <class T>
requires std::is_class_v<T>
void Enc::io(const T& t) { visit(*this, t); }
template <class T>
requires std::is_class_v<T>
void Dec::io(T& t) { visit(*this, t); }

std::uint64_t set_digest(const RevisionGraph& graph, const ValidateOptions& options) {
  std::string all = options.foreign_tables_allowed ? "foreign\n" : "own\n";
  for (const auto& m : graph.migrations()) all += m.path + "\n" + m.checksum + "\n";
  return util::fnv1a64(all);
}

}  // namespace

// The build that writes a cache is the only one that reads it: another version, or the same
// version rebuilt, may parse or validate differently.
std::string engine_identity() {
  std::string id = std::string(kVersion) + "/" + std::to_string(kFormat);
  struct stat st {};
  if (::stat("/proc/self/exe", &st) == 0)
    id += "/" + std::to_string(st.st_size) + "/" + std::to_string(st.st_mtim.tv_sec) + "." +
          std::to_string(st.st_mtim.tv_nsec);
  return id;
}

std::string encode_migration(const Migration& m) {
  Writer w;
  Enc e{w};
  e.io(m);
  return std::move(w.out);
}

Migration decode_migration(std::string_view bytes) {
  Reader r(bytes);
  Dec d{r};
  Migration m;
  d.io(m);
  if (!r.done()) throw std::runtime_error("trailing bytes in cache entry");
  return m;
}

bool caches_disabled() {
  const char* off = std::getenv("FASTAPPKIT_NO_CACHE");
  return off != nullptr && *off != '\0' && std::string_view(off) != "0";
}

std::int64_t wall_clock_ns() {
  struct timespec t {};
  ::clock_gettime(CLOCK_REALTIME, &t);
  return nanoseconds(t);
}

ParseCache::ParseCache(fs::path file) {
  if (file.empty()) return;
  began_ = wall_clock_ns();
  if (caches_disabled()) return;
  file_ = std::move(file);
  if (!fs::is_regular_file(file_)) return;
  try {
    data_ = util::read_file(file_.string());
    Reader r(data_);  // entries point into data_
    std::string_view magic = r.bytes();
    if (magic != std::string_view(kMagic, sizeof kMagic) || r.bytes() != engine_identity())
      throw std::runtime_error("");
    std::uint64_t nvalid = r.u64();
    for (std::uint64_t i = 0; i < nvalid; ++i) validated_.insert(r.u64());
    std::uint64_t n = r.u64();
    for (std::uint64_t i = 0; i < n; ++i) {
      std::string path(r.bytes());
      std::uint64_t sum = r.u64();
      std::size_t len = r.u64();
      bool allow_call = r.u64() != 0;
      StatKey st{};
      for (auto& v : st.v) v = static_cast<std::int64_t>(r.u64());
      entries_.emplace(Key{std::move(path), sum, len, allow_call}, Entry{r.bytes(), false, st});
    }
    if (!r.done()) throw std::runtime_error("");
  } catch (const std::exception&) {
    // An unreadable, truncated or foreign file is an empty cache.
    entries_.clear();
    validated_.clear();
    data_.clear();
  }
}

namespace {
// statx(2) with only the fields a key holds: about a fifth cheaper than fstatat on the reference
// VM (1.9 against 2.4 us; a no-op makes one call per revision file). The values are stat's:
// st_dev is makedev(stx_dev_major, stx_dev_minor).
StatKey key_at(int dirfd, const char* name) {
  struct statx st {};
  constexpr unsigned mask = STATX_TYPE | STATX_MODE | STATX_INO | STATX_SIZE | STATX_MTIME | STATX_CTIME;
  if (::statx(dirfd, name, AT_STATX_SYNC_AS_STAT, mask, &st) != 0 || (st.stx_mask & mask) != mask) return {};
  StatKey k{};
  k.v[0] = static_cast<std::int64_t>(st.stx_size);
  k.v[1] = nanoseconds(st.stx_mtime);
  k.v[2] = nanoseconds(st.stx_ctime);
  k.v[3] = static_cast<std::int64_t>(st.stx_ino);
  k.v[4] = static_cast<std::int64_t>(makedev(st.stx_dev_major, st.stx_dev_minor));
  k.v[5] = st.stx_mode;
  return k;
}
}  // namespace

StatKey StatKey::of(const std::string& path) { return key_at(AT_FDCWD, path.c_str()); }

StatKey StatKey::at(int dirfd, const char* name) { return key_at(dirfd, name); }

std::optional<Migration> ParseCache::unchanged(const std::string& path, const StatKey& stat,
                                               const ParseOptions& options) {
  if (!enabled() || !stat.known()) return std::nullopt;
  for (auto it = entries_.lower_bound(Key{path, 0, 0, false}); it != entries_.end() && std::get<0>(it->first) == path;
       ++it) {
    if (std::get<3>(it->first) != options.allow_call || !(it->second.stat == stat)) continue;
    try {
      Migration m = decode_migration(it->second.bytes);
      ++hits_;
      it->second.used = true;
      return m;
    } catch (const std::exception&) {
      return std::nullopt;  // undecodable: read and parse the file
    }
  }
  return std::nullopt;
}

Migration ParseCache::parse(std::string_view text, const std::string& path, const ParseOptions& options,
                            const StatKey& stat) {
  if (!enabled()) return parse_migration(text, path, options);
  // A stat key is kept only when the file's times are kRacyMargin older than this cache's
  // start: a file written in the same clock tick could change again without its times changing.
  StatKey kept = stat;
  if (!stat.known() || std::max(stat.v[1], stat.v[2]) >= began_ - std::chrono::nanoseconds(kRacyMargin).count())
    kept = StatKey{};
  Key key{path, util::fnv1a64(text), text.size(), options.allow_call};
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    try {
      Migration m = decode_migration(it->second.bytes);
      ++hits_;
      it->second.used = true;
      if (!(it->second.stat == kept)) {
        it->second.stat = kept;
        dirty_ = true;
      }
      return m;
    } catch (const std::exception&) {
      // Undecodable entry: parse the file as if it were not there.
    }
  }
  ++misses_;
  util::test_mark("parse-cache-miss");
  Migration m = parse_migration(text, path, options);
  made_.push_back(encode_migration(m));
  entries_.insert_or_assign(std::move(key), Entry{made_.back(), true, kept});
  dirty_ = true;
  return m;
}

void ParseCache::validate(const RevisionGraph& graph, const ValidateOptions& options) {
  if (!enabled()) return validate_operations(graph, options);
  std::uint64_t digest = set_digest(graph, options);
  if (!validated_.count(digest)) {
    validate_operations(graph, options);
    dirty_ = true;
  }
  validated_now_.insert(digest);
}

void ParseCache::keep_all() {
  for (auto& [key, e] : entries_) e.used = true;
  validated_now_.insert(validated_.begin(), validated_.end());
}

void ParseCache::save() {
  if (!enabled()) return;
  std::size_t used = 0;
  for (const auto& [key, e] : entries_) used += e.used ? 1 : 0;
  if (!dirty_ && used == entries_.size() && validated_now_ == validated_) return;
  // A cache of no revision saves no parsing: not created (a project without revisions, e.g. the
  // one `migrate adopt` starts from, stays as it is).
  if (used == 0 && data_.empty()) return;
  Writer w;
  w.bytes(std::string_view(kMagic, sizeof kMagic));
  w.bytes(engine_identity());
  w.u64(validated_now_.size());
  for (auto d : validated_now_) w.u64(d);
  w.u64(used);
  for (const auto& [key, e] : entries_) {
    if (!e.used) continue;
    w.bytes(std::get<0>(key));
    w.u64(std::get<1>(key));
    w.u64(std::get<2>(key));
    w.u64(std::get<3>(key) ? 1 : 0);
    for (auto v : e.stat.v) w.u64(static_cast<std::uint64_t>(v));
    w.bytes(e.bytes);
  }
  std::error_code ec;
  fs::create_directories(file_.parent_path(), ec);
  fs::path tmp = file_;
  tmp += ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return;
    out.write(w.out.data(), static_cast<std::streamsize>(w.out.size()));
    if (!out) {
      out.close();
      fs::remove(tmp, ec);
      return;
    }
  }
  fs::rename(tmp, file_, ec);
  if (ec) fs::remove(tmp, ec);
}

}  // namespace fastappkit::migration
