// PostgreSQL through libpq.
#include <libpq-fe.h>

#include <thread>

#include "fastappkit/db/connection.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::db {

namespace {

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using Conn = std::unique_ptr<PGconn, ConnDeleter>;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Failure failure_of(const std::string& sqlstate) {
  if (sqlstate.rfind("23", 0) == 0) return Failure::constraint;
  if (sqlstate.rfind("08", 0) == 0) return Failure::connect;
  if (sqlstate == "55P03" || sqlstate == "40P01" || sqlstate == "57014") return Failure::busy;
  return Failure::statement;
}

std::string where(const config::DatabaseUrl& url) {
  std::string host = url.host.empty() ? "the default socket" : url.host;
  return "host " + host + ", port " + (url.port.empty() ? std::string("5432") : url.port) + ", database " +
         (url.database.empty() ? std::string("(default)") : url.database) + " (" + url.redacted() + ")";
}

Conn connect(const config::DatabaseUrl& url) {
  std::string conninfo = url.libpq_conninfo();
  bool has_timeout = false;
  for (const auto& [k, v] : url.params)
    if (k == "connect_timeout") has_timeout = true;
  if (!has_timeout) conninfo += " connect_timeout=10";
  conninfo += " application_name=fastappkit";
  Conn c(PQconnectdb(conninfo.c_str()));
  if (!c || PQstatus(c.get()) != CONNECTION_OK) {
    std::string msg = c ? trim(PQerrorMessage(c.get())) : "out of memory";
    throw DbError(Failure::connect, "cannot connect to PostgreSQL at " + where(url) + ": " + config::redact_text(msg), {}, {},
                  "check that the server is running and that DATABASE_URL (from " + url.source + ") has the right host, port, user, password and database");
  }
  PQsetNoticeProcessor(c.get(), [](void*, const char*) {}, nullptr);
  return c;
}

class PostgresConnection final : public Connection {
 public:
  PostgresConnection(const config::DatabaseUrl& url, OpenMode mode) : url_(url), conn_(connect(url)) {
    if (mode == OpenMode::read_only) execute("SET default_transaction_read_only = on");
  }

  using Connection::execute;
  sql::Dialect dialect() const override { return sql::Dialect::postgresql; }
  std::string describe() const override { return url_.redacted(); }

  void execute(const std::vector<std::string>& statements) override {
    if (statements.empty()) return;
    // One round trip: the simple-query protocol runs the statements in order and returns one
    // result per statement, so the count of results before the error names the failing one.
    std::string batch;
    for (const auto& s : statements) batch += s + ";\n";
    if (!PQsendQuery(conn_.get(), batch.c_str())) fail_connection(statements.front());
    std::size_t index = 0;
    std::optional<DbError> error;
    while (PGresult* raw = PQgetResult(conn_.get())) {
      Result r(raw);
      auto status = PQresultStatus(r.get());
      if (status == PGRES_FATAL_ERROR && !error) {
        error = to_error(r.get(), statements[std::min(index, statements.size() - 1)]);
      } else if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT) {
        error = DbError(Failure::statement, "COPY is not supported in migrations", statements[std::min(index, statements.size() - 1)]);
      }
      ++index;
    }
    if (error) throw *error;
  }

  std::vector<Row> query(const std::string& sql, const std::vector<std::string>& params = {}) override {
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    Result r(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr, nullptr, 0));
    if (!r) fail_connection(sql);
    auto status = PQresultStatus(r.get());
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) throw to_error(r.get(), sql);
    std::vector<Row> rows;
    int n = PQntuples(r.get()), m = PQnfields(r.get());
    rows.reserve(n);
    for (int i = 0; i < n; ++i) {
      Row row;
      for (int j = 0; j < m; ++j) {
        if (PQgetisnull(r.get(), i, j)) row.emplace_back(std::nullopt);
        else row.emplace_back(std::string(PQgetvalue(r.get(), i, j), PQgetlength(r.get(), i, j)));
      }
      rows.push_back(std::move(row));
    }
    return rows;
  }

  void begin() override { execute("BEGIN"); }
  void commit() override { execute("COMMIT"); }
  void rollback() noexcept override {
    if (PQtransactionStatus(conn_.get()) == PQTRANS_IDLE) return;
    PGresult* r = PQexec(conn_.get(), "ROLLBACK");
    if (r) PQclear(r);
  }

  bool table_exists(const std::string& name) override {
    return !query("SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = $1", {name}).empty();
  }

  std::vector<std::string> tables() override {
    std::vector<std::string> out;
    for (const auto& r : query("SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema() ORDER BY tablename"))
      out.push_back(*r[0]);
    return out;
  }

  void lock_for_run(std::chrono::milliseconds timeout) override {
    if (lock_conn_) return;
    // A dedicated session holds the lock, so the migration session's transactions and
    // errors never release it early; it is released when that session closes.
    Conn lock = connect(url_);
    const std::string key = std::to_string(static_cast<long long>(util::fnv1a64("fastappkit migration run") & 0x7fffffffffffffffULL));
    auto deadline = std::chrono::steady_clock::now() + timeout;
    bool waited = false;
    for (;;) {
      const char* values[] = {key.c_str()};
      Result r(PQexecParams(lock.get(), "SELECT pg_try_advisory_lock($1::bigint)", 1, nullptr, values, nullptr, nullptr, 0));
      if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK) throw to_error(r.get(), "SELECT pg_try_advisory_lock(...)");
      if (std::string(PQgetvalue(r.get(), 0, 0)) == "t") break;
      if (std::chrono::steady_clock::now() >= deadline) {
        throw DbError(Failure::busy,
                      "another fastappkit run holds the migration lock on " + url_.redacted() + " (waited " +
                          std::to_string(timeout.count() / 1000) + " s)",
                      {}, {}, "wait for the other run to finish, or raise --lock-timeout");
      }
      if (!waited) waited = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    lock_conn_ = std::move(lock);
  }

 private:
  [[noreturn]] void fail_connection(const std::string& statement) {
    throw DbError(Failure::connect, "lost the connection to PostgreSQL at " + where(url_) + ": " + config::redact_text(trim(PQerrorMessage(conn_.get()))),
                  statement, {}, "check that the server is still running");
  }

  DbError to_error(const PGresult* r, const std::string& statement) const {
    if (!r) return DbError(Failure::connect, config::redact_text(trim(PQerrorMessage(conn_.get()))), statement);
    auto field = [&](int code) {
      const char* v = PQresultErrorField(r, code);
      return v ? std::string(v) : std::string();
    };
    std::string sqlstate = field(PG_DIAG_SQLSTATE);
    std::string msg = field(PG_DIAG_MESSAGE_PRIMARY);
    if (msg.empty()) msg = trim(PQresultErrorMessage(r));
    std::string detail = field(PG_DIAG_MESSAGE_DETAIL);
    if (!detail.empty()) msg += " (" + detail + ")";
    if (!sqlstate.empty()) msg += " [SQLSTATE " + sqlstate + "]";
    return DbError(failure_of(sqlstate), config::redact_text(msg), statement, sqlstate, field(PG_DIAG_MESSAGE_HINT));
  }

  config::DatabaseUrl url_;
  Conn conn_;
  Conn lock_conn_;
};

}  // namespace

std::unique_ptr<Connection> open_postgresql(const config::DatabaseUrl& url, OpenMode mode, std::chrono::milliseconds) {
  return std::make_unique<PostgresConnection>(url, mode);
}

}  // namespace fastappkit::db
