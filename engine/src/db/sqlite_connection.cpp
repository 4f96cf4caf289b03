// SQLite through SQLiteCpp.
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>

#include "../util/test_hooks.hpp"
#include "fastappkit/db/connection.hpp"
#include "fastappkit/util/interrupt.hpp"

namespace fastappkit::db {

namespace {

Failure failure_of(int code) {
  switch (code & 0xff) {
    case SQLITE_CONSTRAINT:
      return Failure::constraint;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Failure::busy;
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB:
    case SQLITE_PERM:
      return Failure::connect;
    default:
      return Failure::statement;
  }
}

// An SQLite error as a DbError, saying what a person can do where the code tells it: a full disk
// or file-size limit (a write that failed: SQLITE_FULL, or SQLITE_IOERR_WRITE, which is what
// SQLite returns for EFBIG once SIGXFSZ is ignored, see main.cpp) is not a broken statement.
DbError sqlite_error(const SQLite::Exception& e, const std::string& statement) {
  const int code = e.getExtendedErrorCode();
  if ((code & 0xff) == SQLITE_FULL || code == SQLITE_IOERR_WRITE || code == SQLITE_IOERR_FSYNC ||
      code == SQLITE_IOERR_TRUNCATE)
    return DbError(Failure::other,
                   std::string(e.what()) +
                       ": the disk is full, or the file-size limit (ulimit -f) was reached, while writing the database",
                   statement, {},
                   "free disk space or raise the limit, then run the command again; the transaction was rolled back "
                   "(SQLite's journal restores the database if the process stopped)");
  return DbError(failure_of(e.getErrorCode()), e.what(), statement);
}

// The run lock of an SQLite database (SPEC 9: a second run waits, then finds nothing to do).
// SQLite's own write lock is taken per migration, so without this a second run could take it
// between two migrations of the first and apply the rest itself. It is an open file description
// lock (fcntl(2) F_OFD_SETLK, Linux 3.15+) on one byte of the database file that SQLite never
// locks: SQLite's locks are byte range locks on 0x40000000 (PENDING_BYTE), 0x40000001
// (RESERVED_BYTE) and the 510 bytes after them (SHARED_FIRST, SHARED_SIZE; sqlite3's os.h), or on
// the -shm file in WAL mode. Locks are advisory, so readers and the application are not held up.
// An OFD lock belongs to the open file, not to the process, so it never merges with SQLite's
// process-owned locks and goes when its file is closed or the process dies (kill -9 included).
// Closing any descriptor of the file drops the process's POSIX locks on it
// (https://www.sqlite.org/howtocorrupt.html section 2.2): this one is closed only after the
// connection, when SQLite holds none.
class RunLockFile {
 public:
  static constexpr off_t kOffset = 0x40000400;  // past SQLite's lock bytes, inside its lock page

  RunLockFile() = default;
  RunLockFile(const RunLockFile&) = delete;
  RunLockFile& operator=(const RunLockFile&) = delete;
  ~RunLockFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool held() const { return fd_ >= 0; }

  void acquire(const std::string& path, const std::string& shown, std::chrono::milliseconds timeout) {
    // A file this user may only read (or on a read-only mount) gets a shared lock: the run still
    // waits for a run that writes, and SQLite refuses any write of its own as it would have.
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    const bool shared = fd < 0 && (errno == EACCES || errno == EROFS);
    if (shared) fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      throw DbError(Failure::connect, "cannot open " + path + " to take the run lock: " + std::strerror(errno), {}, {},
                    "check the file's permissions and DATABASE_URL");
    struct flock fl {};
    fl.l_type = shared ? F_RDLCK : F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = kOffset;
    fl.l_len = 1;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (bool waited = false;; waited = true) {
      if (::fcntl(fd, F_OFD_SETLK, &fl) == 0) break;
      const int err = errno;
      if ((err != EAGAIN && err != EACCES) || std::chrono::steady_clock::now() >= deadline) {
        ::close(fd);
        if (err != EAGAIN && err != EACCES)
          throw DbError(Failure::connect, "cannot lock " + path + " for the run: " + std::strerror(err), {}, {},
                        "keep the database on a local file system that supports fcntl locks");
        throw run_lock_busy(shown, timeout);
      }
      if (util::interrupted_signal() != 0) {
        ::close(fd);
        throw DbError(Failure::other, "stopped while waiting for the run lock on " + shown + "; nothing was run", {},
                      {}, "run the command again");
      }
      if (!waited) util::test_touch("waiting");
      // On every poll, not only the first: a test removes it and sees it again while kept out.
      util::test_touch("lock-busy");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

class SqliteConnection final : public Connection {
 public:
  SqliteConnection(const config::DatabaseUrl& url, OpenMode mode, std::chrono::milliseconds timeout)
      : url_(url),
        db_(url.sqlite_path,
            // A connection is used by one thread at a time (a fleet run opens one per database),
            // so SQLite's per-connection mutexes are pure cost (with the memory statistics below,
            // 16% of the instructions of a run of 1,000 revisions: docs/perf-apply.md).
            SQLite::OPEN_NOMUTEX |
                (mode == OpenMode::read_only ? SQLite::OPEN_READONLY : (SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE)),
            static_cast<int>(timeout.count())) {
    set_busy_timeout(timeout);
    if (mode == OpenMode::read_write) db_.exec("PRAGMA foreign_keys = ON");
    // Without this, SQLite reads a double-quoted name that matches no column as a string, so
    // CREATE INDEX ... ("nosuch") passes on SQLite and fails only on PostgreSQL.
    sqlite3_db_config(db_.getHandle(), SQLITE_DBCONFIG_DQS_DDL, 0, nullptr);
    sqlite3_db_config(db_.getHandle(), SQLITE_DBCONFIG_DQS_DML, 0, nullptr);
    // SQLite reads the file lazily: read its header now, so a file that is not a database is
    // reported as such when it is opened, not by the first statement of a run.
    db_.exec("SELECT 1 FROM sqlite_master LIMIT 1");
  }

  using Connection::execute;
  sql::Dialect dialect() const override { return sql::Dialect::sqlite; }
  std::string describe() const override { return url_.redacted(); }

  void execute(const std::vector<std::string>& statements) override {
    for (const auto& s : statements) {
      try {
        db_.exec(s);
      } catch (const SQLite::Exception& e) {
        throw sqlite_error(e, s);
      }
    }
  }

  std::vector<Row> query(const std::string& sql, const std::vector<std::string>& params = {}) override {
    try {
      SQLite::Statement st(db_, sql);
      for (std::size_t i = 0; i < params.size(); ++i) st.bind(static_cast<int>(i + 1), params[i]);
      std::vector<Row> rows;
      while (st.executeStep()) {
        Row row;
        for (int c = 0; c < st.getColumnCount(); ++c) {
          auto col = st.getColumn(c);
          if (col.isNull())
            row.emplace_back(std::nullopt);
          else
            row.emplace_back(col.getString());
        }
        rows.push_back(std::move(row));
      }
      return rows;
    } catch (const SQLite::Exception& e) {
      throw sqlite_error(e, sql);
    }
  }

  void scan(const std::string& sql, const std::function<bool(RowView)>& row) override {
    try {
      // A scan reads its pages once: hold the page cache to a few pages while it runs, so that a
      // large table recycles them instead of filling fresh memory (each new 4 KiB a page fault).
      const int cache_pages = db_.execAndGet("PRAGMA cache_size").getInt();
      db_.exec("PRAGMA cache_size = 8");
      struct Restore {
        SQLite::Database& db;
        int pages;
        ~Restore() {
          try {
            db.exec("PRAGMA cache_size = " + std::to_string(pages));
          } catch (...) {  // only a cache size
          }
        }
      } restore{db_, cache_pages};
      // Prepared and stepped with SQLite's own calls (SQLiteCpp keeps its statement handle private,
      // and a SQLite::Column per value copies the statement's shared pointer: two atomic counts).
      // Text first, then its length (https://sqlite.org/c3ref/column_blob.html).
      sqlite3* handle = db_.getHandle();
      sqlite3_stmt* raw = nullptr;
      if (const int rc = sqlite3_prepare_v2(handle, sql.c_str(), -1, &raw, nullptr); rc != SQLITE_OK)
        throw SQLite::Exception(handle, rc);
      const std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> stmt(raw, sqlite3_finalize);
      std::vector<std::optional<std::string_view>> values(static_cast<std::size_t>(sqlite3_column_count(raw)));
      for (;;) {
        const int rc = sqlite3_step(raw);
        if (rc == SQLITE_DONE) break;
        if (rc != SQLITE_ROW) throw SQLite::Exception(handle, rc);
        for (std::size_t c = 0; c < values.size(); ++c) {
          const int i = static_cast<int>(c);
          if (sqlite3_column_type(raw, i) == SQLITE_NULL) {
            values[c] = std::nullopt;
            continue;
          }
          const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(raw, i));
          values[c].emplace(text ? text : "", static_cast<std::size_t>(sqlite3_column_bytes(raw, i)));
        }
        if (!row(values)) return;
      }
    } catch (const SQLite::Exception& e) {
      throw sqlite_error(e, sql);
    }
  }

  void begin() override { execute("BEGIN IMMEDIATE"); }
  void commit() override { execute("COMMIT"); }
  void rollback() noexcept override {
    try {
      if (!sqlite3_get_autocommit(db_.getHandle())) db_.exec("ROLLBACK");
    } catch (...) {
      // Never throw on an error path; SQLite rolls back on close anyway.
    }
  }

  bool table_exists(const std::string& name) override {
    // pragma_table_list(name) looks the name up in the schema SQLite keeps in memory; a query on
    // sqlite_master decodes every row of it, which made `status` over many apps quadratic.
    // (https://www.sqlite.org/pragma.html#pragma_table_list, SQLite 3.37+.)
    return !query("SELECT 1 FROM pragma_table_list(?) WHERE schema = 'main' AND type = 'table'", {name}).empty();
  }

  std::vector<std::string> tables() override {
    std::vector<std::string> out;
    for (const auto& r :
         query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"))
      out.push_back(*r[0]);
    return out;
  }

  void lock_for_run(std::chrono::milliseconds timeout) override {
    set_busy_timeout(timeout);
    if (url_.is_memory() || run_lock_.held()) return;
    run_lock_.acquire(url_.sqlite_path, url_.redacted(), timeout);
    // A run commits once per migration. In SQLite's default DELETE mode each commit creates the
    // rollback journal, syncs its folder and deletes it again; PERSIST keeps the file and
    // zeroes its header instead, as durable and atomic, with less file-system work per commit
    // (https://www.sqlite.org/pragma.html#pragma_journal_mode; a connection in DELETE mode, the
    // application's, shares the file as usual). Only a database in DELETE mode is switched, for
    // this connection alone (rollback modes are not stored in the file; WAL is, and is left
    // as it is), and back when the run ends, which deletes the journal.
    try {
      auto mode = query("PRAGMA journal_mode");
      if (mode.size() == 1 && mode[0].size() == 1 && mode[0][0] == "delete") {
        auto now = query("PRAGMA journal_mode = PERSIST");
        persist_journal_ = now.size() == 1 && now[0].size() == 1 && now[0][0] == "persist";
      }
    } catch (const DbError&) {
      // Not switched: the run goes on in DELETE mode.
    }
  }

  ~SqliteConnection() override {
    if (!persist_journal_) return;
    try {
      if (!sqlite3_get_autocommit(db_.getHandle())) db_.exec("ROLLBACK");
      db_.exec("PRAGMA journal_mode = DELETE");
    } catch (...) {
      // Left: a journal with a zeroed header is no hot journal; the next commit in DELETE mode removes it.
    }
  }

  migration::Schema as_stored(migration::Schema expected) override {
    for (auto& [name, t] : expected.tables)
      for (auto& c : t.columns)
        if (sql::is_identity(t, c)) c.type = migration::ColumnType::integer;
    return expected;
  }

  // Whether `column` of `table` is declared exactly INTEGER in a rowid table.
  bool rowid_alias_type(const std::string& table, const std::string& column) {
    for (const auto& r : query("SELECT upper(c.type), l.wr FROM pragma_table_info(?) c, pragma_table_list(?) l WHERE "
                               "c.name = ? AND l.schema = 'main'",
                               {table, table, column}))
      return r[0].value_or("") == "INTEGER" && r[1].value_or("1") == "0";
    return false;
  }

  migration::Schema reflect(std::vector<std::string>* unmapped) override {
    migration::Schema schema;
    for (const auto& name : tables()) {
      if (name.rfind("alembic_version", 0) == 0 || name == "fastappkit_history" ||
          name.rfind("_fastappkit_tmp_", 0) == 0)
        continue;
      migration::Table t;
      t.name = name;
      std::vector<std::pair<int, std::string>> pk;
      for (const auto& r :
           query("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid", {name})) {
        auto c = sql::reflected_column(name, *r[0], r[1].value_or(""), r[2].value_or("0") == "0", r[3],
                                       sql::Dialect::sqlite, unmapped);
        if (r[4].value_or("0") != "0") pk.emplace_back(std::stoi(*r[4]), c.name);
        t.columns.push_back(c);
      }
      std::sort(pk.begin(), pk.end());
      for (const auto& [i, c] : pk) t.primary_key.push_back(c);
      // A one-column key declared exactly INTEGER is the rowid (lang_createtable.html#rowid): it
      // never holds NULL, though table_info says notnull 0 unless NOT NULL was written.
      if (pk.size() == 1 && rowid_alias_type(name, pk[0].second))
        if (auto* c = t.find_column(pk[0].second)) c->nullable = false;
      std::map<std::string, migration::ForeignKey> fks;
      for (const auto& r : query("SELECT id, \"table\", \"from\", \"to\", on_update, on_delete FROM "
                                 "pragma_foreign_key_list(?) ORDER BY id, seq",
                                 {name})) {
        auto& fk = fks[*r[0]];
        fk.references_table = r[1].value_or("");
        fk.columns.push_back(r[2].value_or(""));
        fk.references_columns.push_back(r[3].value_or(""));
        if (r[4] && *r[4] != "NO ACTION") fk.on_update = *r[4];
        if (r[5] && *r[5] != "NO ACTION") fk.on_delete = *r[5];
      }
      // SQLite does not keep constraint names: the caller compares by columns.
      for (auto& [id, fk] : fks) t.foreign_keys.push_back(fk);
      for (const auto& r :
           query("SELECT name, \"unique\", origin, partial FROM pragma_index_list(?) ORDER BY name", {name})) {
        std::vector<std::string> cols;
        bool expression = false;
        for (const auto& c : query("SELECT name, cid FROM pragma_index_info(?) ORDER BY seqno", {*r[0]})) {
          cols.push_back(c[0].value_or(""));
          expression = expression || c[1].value_or("") == "-2";
        }
        // An index on an expression or with a WHERE clause has no model form (PostgreSQL's
        // reflect leaves them out too); adopt carries them as execute steps (db/catalog.hpp).
        if (expression || r[3].value_or("0") == "1") continue;
        const std::string origin = r[2].value_or("c");
        if (origin == "u")
          t.uniques.push_back({"", cols});
        else if (origin == "c")
          t.indexes.push_back({*r[0], cols, r[1].value_or("0") == "1"});
      }
      schema.tables[name] = std::move(t);
    }
    return schema;
  }

 private:
  // sqlite3_busy_timeout's behaviour (retry with short sleeps until `timeout`), written out so
  // that a run that has to wait for another one's write lock can say so to a staged test.
  void set_busy_timeout(std::chrono::milliseconds timeout) {
    busy_timeout_ = timeout;
    sqlite3_busy_handler(db_.getHandle(), &SqliteConnection::on_busy, this);
  }
  static int on_busy(void* self, int attempt) {
    auto* c = static_cast<SqliteConnection*>(self);
    const auto now = std::chrono::steady_clock::now();
    if (attempt == 0) {
      c->busy_since_ = now;
      util::test_touch("waiting");
    }
    if (now - c->busy_since_ >= c->busy_timeout_ || util::interrupted_signal() != 0) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(attempt < 10 ? 1 : 10));
    return 1;
  }
  std::chrono::milliseconds busy_timeout_{0};
  bool persist_journal_ = false;  // switched to PERSIST by lock_for_run
  std::chrono::steady_clock::time_point busy_since_;

  config::DatabaseUrl url_;
  RunLockFile run_lock_;  // declared before db_: closed after it (see RunLockFile)
  SQLite::Database db_;
  // SIGINT/SIGTERM stop the statement in flight (sqlite3_interrupt may be called from another
  // thread or a signal handler); unregistered before db_ closes.
  util::InterruptTarget interrupt_{db_.getHandle(),
                                   [](void* db) noexcept { sqlite3_interrupt(static_cast<sqlite3*>(db)); }};
};

}  // namespace

std::unique_ptr<Connection> open_sqlite(const config::DatabaseUrl& url, OpenMode mode,
                                        std::chrono::milliseconds lock_timeout) {
  // A folder that does not exist first: no run could create the file there, so a reading command
  // does not call it a database that "does not exist yet".
  if (!url.is_memory()) {
    auto parent = std::filesystem::path(url.sqlite_path).parent_path();
    if (!parent.empty() && !std::filesystem::is_directory(parent)) {
      throw DbError(
          Failure::connect,
          "cannot open SQLite database " + url.sqlite_path + ": folder " + parent.string() + " does not exist", {}, {},
          "create the folder or fix DATABASE_URL (from " + url.source + ")");
    }
  }
  if (mode == OpenMode::read_only && !url.is_memory() && !std::filesystem::exists(url.sqlite_path)) return nullptr;
  // Memory statistics take a global mutex on every allocation and nothing reads them. Only
  // possible before SQLite initialises; if something initialised it already, they stay on.
  // Likewise the page cache's first bulk allocation (SQLITE_DEFAULT_PCACHE_INITSZ, 20 pages that
  // it writes a header into at once: 20 page faults for a connection that reads three pages);
  // SQLITE_CONFIG_PAGECACHE with no buffer and N = 0 turns it off, pages are then allocated as
  // they are read (https://sqlite.org/c3ref/c_config_covering_index_scan.html#sqliteconfigpagecache).
  static const int configured = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) |
                                sqlite3_config(SQLITE_CONFIG_PAGECACHE, static_cast<void*>(nullptr), 0, 0);
  (void)configured;
  try {
    return std::make_unique<SqliteConnection>(url, mode, lock_timeout);
  } catch (const SQLite::Exception& e) {
    // A hot journal: a transaction that was stopped before it ended (the process killed, the
    // disk full) left the journal that undoes it, and only a connection that may write rolls it
    // back (https://www.sqlite.org/lockingv3.html#hot_journals, section 4.3). A read-only open
    // cannot: the database is opened for writing once, which rolls it back as any SQLite client
    // would, and then read-only again. The data is as the last committed transaction left it.
    if (mode == OpenMode::read_only && e.getExtendedErrorCode() == SQLITE_READONLY_ROLLBACK) {
      try {
        {
          SQLite::Database writer(url.sqlite_path, SQLite::OPEN_READWRITE, static_cast<int>(lock_timeout.count()));
          writer.exec("SELECT 1 FROM sqlite_master LIMIT 1");
        }
        return std::make_unique<SqliteConnection>(url, mode, lock_timeout);
      } catch (const SQLite::Exception& again) {
        throw DbError(Failure::connect,
                      url.sqlite_path +
                          " has a hot journal (a transaction stopped before it ended) that only a connection that "
                          "may write can roll back: " +
                          again.what(),
                      {}, {},
                      "run the command once as a user that may write the database and its folder (any SQLite client "
                      "that opens it for writing rolls the journal back)");
      }
    }
    if ((e.getErrorCode() & 0xff) == SQLITE_BUSY || (e.getErrorCode() & 0xff) == SQLITE_LOCKED)
      throw DbError(Failure::busy,
                    "SQLite database " + url.sqlite_path + " is locked by another connection (waited " +
                        std::to_string(lock_timeout.count()) + " ms): " + e.what(),
                    {}, {}, "wait for the program writing it to finish, or raise --lock-timeout");
    if ((e.getErrorCode() & 0xff) == SQLITE_FULL || e.getExtendedErrorCode() == SQLITE_IOERR_WRITE)
      throw sqlite_error(e, {});
    if ((e.getErrorCode() & 0xff) == SQLITE_NOTADB)
      throw DbError(Failure::connect, url.sqlite_path + " is not an SQLite database (" + e.what() + ")", {}, {},
                    "point DATABASE_URL (from " + url.source +
                        ") at an SQLite file, or at a path that does not exist yet to create one");
    throw DbError(Failure::connect, "cannot open SQLite database " + url.sqlite_path + ": " + e.what(), {}, {},
                  "check the path and its permissions in DATABASE_URL (from " + url.source + ")");
  }
}

std::unique_ptr<Connection> open(const config::DatabaseUrl& url, OpenMode mode,
                                 std::chrono::milliseconds lock_timeout) {
  if (url.backend == config::Backend::sqlite) return open_sqlite(url, mode, lock_timeout);
  return open_postgresql(url, mode);
}

}  // namespace fastappkit::db
