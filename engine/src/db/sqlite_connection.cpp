// SQLite through SQLiteCpp.
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <sqlite3.h>

#include <filesystem>

#include "fastappkit/db/connection.hpp"

namespace fastappkit::db {

namespace {

Failure failure_of(int code) {
  switch (code & 0xff) {
    case SQLITE_CONSTRAINT: return Failure::constraint;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return Failure::busy;
    case SQLITE_CANTOPEN:
    case SQLITE_NOTADB:
    case SQLITE_PERM: return Failure::connect;
    default: return Failure::statement;
  }
}

class SqliteConnection final : public Connection {
 public:
  SqliteConnection(const config::DatabaseUrl& url, OpenMode mode, std::chrono::milliseconds timeout)
      : url_(url),
        db_(url.sqlite_path, mode == OpenMode::read_only ? SQLite::OPEN_READONLY : (SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE),
            static_cast<int>(timeout.count())) {
    if (mode == OpenMode::read_write) db_.exec("PRAGMA foreign_keys = ON");
  }

  using Connection::execute;
  sql::Dialect dialect() const override { return sql::Dialect::sqlite; }
  std::string describe() const override { return url_.redacted(); }

  void execute(const std::vector<std::string>& statements) override {
    for (const auto& s : statements) {
      try {
        db_.exec(s);
      } catch (const SQLite::Exception& e) {
        throw DbError(failure_of(e.getErrorCode()), e.what(), s);
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
          if (col.isNull()) row.emplace_back(std::nullopt);
          else row.emplace_back(col.getString());
        }
        rows.push_back(std::move(row));
      }
      return rows;
    } catch (const SQLite::Exception& e) {
      throw DbError(failure_of(e.getErrorCode()), e.what(), sql);
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
    return !query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", {name}).empty();
  }

  std::vector<std::string> tables() override {
    std::vector<std::string> out;
    for (const auto& r : query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"))
      out.push_back(*r[0]);
    return out;
  }

  void lock_for_run(std::chrono::milliseconds timeout) override { db_.setBusyTimeout(static_cast<int>(timeout.count())); }

 private:
  config::DatabaseUrl url_;
  SQLite::Database db_;
};

}  // namespace

std::unique_ptr<Connection> open_sqlite(const config::DatabaseUrl& url, OpenMode mode, std::chrono::milliseconds lock_timeout) {
  if (mode == OpenMode::read_only && !url.is_memory() && !std::filesystem::exists(url.sqlite_path)) return nullptr;
  if (!url.is_memory()) {
    auto parent = std::filesystem::path(url.sqlite_path).parent_path();
    if (!parent.empty() && !std::filesystem::is_directory(parent)) {
      throw DbError(Failure::connect, "cannot open SQLite database " + url.sqlite_path + ": folder " + parent.string() + " does not exist", {}, {},
                    "create the folder or fix DATABASE_URL (from " + url.source + ")");
    }
  }
  try {
    return std::make_unique<SqliteConnection>(url, mode, lock_timeout);
  } catch (const SQLite::Exception& e) {
    throw DbError(Failure::connect, "cannot open SQLite database " + url.sqlite_path + ": " + e.what(), {}, {},
                  "check the path and its permissions in DATABASE_URL (from " + url.source + ")");
  }
}

std::unique_ptr<Connection> open(const config::DatabaseUrl& url, OpenMode mode, std::chrono::milliseconds lock_timeout) {
  if (url.backend == config::Backend::sqlite) return open_sqlite(url, mode, lock_timeout);
  return open_postgresql(url, mode, lock_timeout);
}

}  // namespace fastappkit::db
