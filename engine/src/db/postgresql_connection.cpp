// PostgreSQL through libpq.

#include <poll.h>

#include <algorithm>
#include <thread>
#include <type_traits>

#include "../util/libpq.hpp"
#include "../util/test_hooks.hpp"
#include "fastappkit/db/connection.hpp"
#include "fastappkit/util/interrupt.hpp"
#include "fastappkit/util/text.hpp"

namespace fastappkit::db {

namespace {

// libpq for a connection (util/libpq.hpp): a library that cannot be loaded is a failure to
// connect, as a server that cannot be reached is.
const util::Libpq& pq() {
  try {
    return util::libpq();
  } catch (const Error& e) {
    throw DbError(Failure::connect, e.message(), {}, {}, e.hint());
  }
}

struct ResultDeleter {
  void operator()(PGresult* r) const { pq().PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

struct ConnDeleter {
  void operator()(PGconn* c) const { pq().PQfinish(c); }
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

// The run lock's advisory-lock key, as docs/postgresql.md states it so other tools can take
// the same lock: FNV-1a 64 of "fastappkit migration run", masked to a positive bigint.
// tests/e2e/test_e2e_trust.cpp reads the docs' number and checks it in pg_locks.
constexpr long long kRunLockKey = 9056201690186716081LL;

// A tenant's run (?schema=NAME) holds kRunLockKey shared, so tenants of one database migrate
// side by side while a run without a schema still excludes them all, plus this key (FNV-1a 64
// of "fastappkit migration run:" + NAME, masked to a positive bigint) exclusively.
long long schema_lock_key(const std::string& schema) {
  unsigned long long h = 14695981039346656037ULL;
  for (unsigned char c : "fastappkit migration run:" + schema) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return static_cast<long long>(h & 0x7fffffffffffffffULL);
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
  Conn c(pq().PQconnectdb(conninfo.c_str()));
  if (!c || pq().PQstatus(c.get()) != CONNECTION_OK) {
    std::string msg = c ? trim(pq().PQerrorMessage(c.get())) : "out of memory";
    std::string hint = "check that the server is running and that DATABASE_URL (from " + url.source +
                       ") has the right host, port, user, password and database";
    // The server is there and says the database is not: making it is the likely next step.
    if (!url.database.empty() && msg.find("database \"" + url.database + "\" does not exist") != std::string::npos)
      hint = "create it (createdb" + (url.host.empty() ? std::string() : " -h " + url.host) +
             (url.port.empty() ? std::string() : " -p " + url.port) +
             (url.user.empty() ? std::string() : " -U " + url.user) + " " + url.database + ", or CREATE DATABASE " +
             sql::quote_ident(url.database) + "), or fix the database name in DATABASE_URL (from " + url.source + ")";
    throw DbError(Failure::connect, "cannot connect to PostgreSQL at " + where(url) + ": " + config::redact_text(msg),
                  {}, {}, hint);
  }
  pq().PQsetNoticeProcessor(
      c.get(), [](void*, const char*) {}, nullptr);
  return c;
}

class PostgresConnection final : public Connection {
 public:
  PostgresConnection(const config::DatabaseUrl& url, OpenMode mode)
      : url_(url), conn_(connect(url)), cancel_{pq().PQcancel, pq().PQgetCancel(conn_.get())} {
    // Only the tenant's schema is searched: its tables are created there and nothing of
    // another schema is seen (reflect, status and check read current_schema(); a schema that
    // does not exist yet leaves it NULL, so nothing is found).
    if (!url.schema.empty()) execute("SET search_path TO " + sql::quote_ident(url.schema));
    if (mode == OpenMode::read_only) execute("SET default_transaction_read_only = on");
  }

  using Connection::execute;
  sql::Dialect dialect() const override { return sql::Dialect::postgresql; }
  std::string describe() const override { return url_.redacted(); }

  void execute(const std::vector<std::string>& statements) override {
    if (statements.empty() && !begin_pending_) return;
    // One round trip: the simple-query protocol runs the statements in order and returns one
    // result per statement, so the count of results before the error names the failing one.
    // A BEGIN not sent yet goes first, in the same round trip.
    const bool began = send(statements);
    std::optional<DbError> error;
    collect(statements, began, error);
    if (error) throw *error;
  }

  std::vector<Row> query(const std::string& sql, const std::vector<std::string>& params = {}) override {
    return rows_of(run_query(sql, params).get());
  }

  void scan(const std::string& sql, const std::function<bool(RowView)>& row) override {
    const Result r = run_query(sql, {});
    if (!r) return;
    const int n = pq().PQntuples(r.get());
    std::vector<std::optional<std::string_view>> values(static_cast<std::size_t>(pq().PQnfields(r.get())));
    for (int i = 0; i < n; ++i) {
      for (std::size_t j = 0; j < values.size(); ++j) {
        const int c = static_cast<int>(j);
        values[j] = pq().PQgetisnull(r.get(), i, c)
                        ? std::nullopt
                        : std::optional<std::string_view>(std::in_place, pq().PQgetvalue(r.get(), i, c),
                                                          static_cast<std::size_t>(pq().PQgetlength(r.get(), i, c)));
      }
      if (!row(values)) return;
    }
  }

  // BEGIN is sent with the transaction's first statement, not alone: a migration step is then
  // two round trips (BEGIN with the version-table read; statements, history row and COMMIT).
  // Nothing differs on the server: a transaction takes its snapshot at its first statement.
  void begin() override { begin_pending_ = true; }
  void commit() override {
    if (begin_pending_) {  // nothing was sent: there is no transaction to commit
      begin_pending_ = false;
      return;
    }
    execute("COMMIT");
  }
  void commit_after(const std::vector<std::string>& last) override {
    std::vector<std::string> all = last;
    all.emplace_back("COMMIT");
    // On an error the server skips the rest of the batch, COMMIT included: the transaction
    // stays open (aborted) for the caller's rollback.
    execute(all);
  }
  void rollback() noexcept override {
    begin_pending_ = false;
    if (pq().PQtransactionStatus(conn_.get()) == PQTRANS_IDLE) return;
    PGresult* r = pq().PQexec(conn_.get(), "ROLLBACK");
    if (r) pq().PQclear(r);
  }

  bool table_exists(const std::string& name) override { return tables_exist({name}); }

  // pg_class itself, not the pg_tables view (which joins pg_namespace and pg_tablespace for
  // columns this does not read): the same tables (relkind 'r' and 'p', the view's own filter),
  // and on a new backend, whose first query fills its catalog caches, 1.0 ms against 1.6 ms on
  // the reference VM.
  bool tables_exist(const std::vector<std::string>& names) override {
    if (names.empty()) return true;
    std::string sql =
        "SELECT count(DISTINCT c.relname) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = "
        "c.relnamespace WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname IN (";
    for (std::size_t i = 0; i < names.size(); ++i) sql += (i ? ", $" : "$") + std::to_string(i + 1);
    sql += ")";
    const auto rows = query(sql, names);
    std::vector<std::string> distinct = names;
    std::sort(distinct.begin(), distinct.end());
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    return rows.size() == 1 && rows[0][0] && *rows[0][0] == std::to_string(distinct.size());
  }

  std::vector<std::string> tables() override {
    std::vector<std::string> out;
    for (const auto& r :
         query("SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = current_schema() ORDER BY tablename"))
      out.push_back(*r[0]);
    return out;
  }

  migration::Schema reflect(std::vector<std::string>* unmapped) override {
    migration::Schema schema;
    const std::string own =
        "n.nspname = current_schema() AND c.relkind = 'r' AND c.relname NOT LIKE 'alembic\\_version%' AND c.relname <> "
        "'fastappkit_history'";
    for (const auto& r : query(
             "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, "
             "d.adrelid), a.attidentity "
             "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid "
             "LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum "
             "WHERE " +
             own + " AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname, a.attnum")) {
      auto& t = schema.tables[*r[0]];
      t.name = *r[0];
      // Identity columns have no default; a serial's nextval() default is its sequence, not a model default.
      std::optional<std::string> def = r[4] && r[4]->rfind("nextval(", 0) != 0 ? r[4] : std::nullopt;
      auto c = sql::reflected_column(t.name, *r[1], r[2].value_or(""), r[3].value_or("f") != "t", def,
                                     sql::Dialect::postgresql, unmapped);
      t.columns.push_back(c);
    }
    auto names = [](const std::string& arr) {
      // array_agg of names comes back as {a,b} or {"odd name",b}
      std::vector<std::string> out;
      std::string cur;
      bool quoted = false;
      for (std::size_t i = 1; i + 1 < arr.size(); ++i) {
        char ch = arr[i];
        if (quoted) {
          if (ch == '\\' && i + 2 < arr.size())
            cur += arr[++i];
          else if (ch == '"')
            quoted = false;
          else
            cur += ch;
        } else if (ch == '"')
          quoted = true;
        else if (ch == ',') {
          out.push_back(cur);
          cur.clear();
        } else
          cur += ch;
      }
      if (arr.size() > 2) out.push_back(cur);
      return out;
    };
    const std::string cols =
        "(SELECT array_agg(a.attname ORDER BY k.i) FROM unnest(%s) WITH ORDINALITY k(n, i) JOIN pg_attribute a ON "
        "a.attrelid = %s AND a.attnum = k.n)";
    auto agg = [&](const char* arr, const char* rel) {
      std::string s = cols;
      s.replace(s.find("%s"), 2, arr);
      s.replace(s.find("%s"), 2, rel);
      return s;
    };
    for (const auto& r : query("SELECT c.relname, con.conname, con.contype, " + agg("con.conkey", "con.conrelid") +
                               ", rc.relname, " + agg("con.confkey", "con.confrelid") +
                               ", con.confdeltype, con.confupdtype "
                               "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON "
                               "n.oid = c.relnamespace "
                               "LEFT JOIN pg_class rc ON rc.oid = con.confrelid WHERE " +
                               own + " AND con.contype IN ('p', 'u', 'f') ORDER BY c.relname, con.conname")) {
      auto it = schema.tables.find(*r[0]);
      if (it == schema.tables.end()) continue;
      auto& t = it->second;
      const std::string type = r[2].value_or("");
      auto columns = names(r[3].value_or("{}"));
      auto action = [](const std::optional<std::string>& code) -> std::optional<std::string> {
        std::string c = code.value_or("a");
        if (c == "c") return "CASCADE";
        if (c == "n") return "SET NULL";
        if (c == "d") return "SET DEFAULT";
        if (c == "r") return "RESTRICT";
        return std::nullopt;
      };
      if (type == "p")
        t.primary_key = columns;
      else if (type == "u")
        t.uniques.push_back({*r[1], columns});
      else
        t.foreign_keys.push_back(
            {*r[1], columns, r[4].value_or(""), names(r[5].value_or("{}")), action(r[6]), action(r[7])});
    }
    for (const auto& r :
         query("SELECT c.relname, ic.relname, i.indisunique, " + agg("i.indkey::int2[]", "i.indrelid") +
               " FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
               "JOIN pg_class ic ON ic.oid = i.indexrelid WHERE " +
               own +
               " AND i.indexprs IS NULL AND i.indpred IS NULL "
               "AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid) ORDER BY c.relname, "
               "ic.relname")) {
      auto it = schema.tables.find(*r[0]);
      if (it == schema.tables.end()) continue;
      it->second.indexes.push_back({*r[1], names(r[3].value_or("{}")), r[2].value_or("f") == "t"});
    }
    return schema;
  }

  migration::Schema as_stored(migration::Schema expected) override {
    // One temporary table per table with defaults, holding just those columns.
    std::vector<std::pair<std::string, std::string>> creates;  // model table, CREATE statement
    for (const auto& [name, t] : expected.tables) {
      std::vector<std::string> cols;
      for (const auto& c : t.columns)
        if (c.default_value && !sql::is_identity(t, c))
          cols.push_back(sql::quote_ident(c.name) + " " + sql::column_type(c, sql::Dialect::postgresql) + " DEFAULT " +
                         sql::default_clause(*c.default_value));
      if (!cols.empty())
        creates.emplace_back(name, "CREATE TEMPORARY TABLE " +
                                       sql::quote_ident("fastappkit_stored_" + std::to_string(creates.size())) + " (" +
                                       util::join(cols, ", ") + ")");
    }
    if (creates.empty()) return expected;
    std::vector<Row> rows;
    try {
      // READ WRITE: a check connection defaults to read-only transactions, which refuse even
      // temporary tables; this one is always rolled back.
      execute("BEGIN READ WRITE");
      try {
        std::vector<std::string> all;
        for (const auto& [t, create] : creates) all.push_back(create);
        execute(all);
      } catch (const DbError&) {
        // A default the server cannot create (it may name something dropped since): make the
        // others one by one, that one stays as written.
        rollback();
        execute("BEGIN READ WRITE");
        for (const auto& [t, create] : creates) {
          try {
            execute(
                std::vector<std::string>{"SAVEPOINT fastappkit_stored", create, "RELEASE SAVEPOINT fastappkit_stored"});
          } catch (const DbError&) {
            execute("ROLLBACK TO SAVEPOINT fastappkit_stored");
          }
        }
      }
      rows = query(
          "SELECT c.relname, a.attname, pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_class c ON c.oid = "
          "d.adrelid "
          "JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
          "WHERE c.relnamespace = pg_my_temp_schema() AND c.relname LIKE 'fastappkit\\_stored\\_%'");
    } catch (const DbError&) {
      rollback();
      return expected;  // a server that refuses (a hot standby): defaults stay as written
    }
    rollback();
    for (const auto& r : rows) {
      std::size_t i = std::stoul(r[0].value_or("").substr(std::string("fastappkit_stored_").size()));
      if (i >= creates.size()) continue;
      if (auto* c = expected.tables[creates[i].first].find_column(r[1].value_or("")); c && r[2])
        c->default_value = *r[2];
    }
    return expected;
  }

  // The run lock's session is read without a round trip: a session the server ended
  // (pg_terminate_backend, a restart) has sent its last message and closed the socket, which
  // PQconsumeInput reads, leaving the connection bad.
  void check_run_lock() override {
    if (!lock_conn_) return;
    // The idle session has nothing to say unless the server ended it: its last message (FATAL),
    // then the end of the stream, each read when poll says there is something to read.
    bool lost = pq().PQstatus(lock_conn_.get()) != CONNECTION_OK;
    for (int reads = 0; !lost && reads < 8; ++reads) {
      pollfd p{pq().PQsocket(lock_conn_.get()), POLLIN, 0};
      if (p.fd < 0 || ::poll(&p, 1, 0) <= 0) break;
      lost = pq().PQconsumeInput(lock_conn_.get()) == 0 || pq().PQstatus(lock_conn_.get()) != CONNECTION_OK;
    }
    if (!lost) return;
    throw DbError(Failure::connect,
                  "the session holding the run lock on " + url_.redacted() + " was lost (" +
                      trim(pq().PQerrorMessage(lock_conn_.get())) + "); the run stopped before its next revision",
                  {}, {}, "run the command again: it takes the lock again and goes on from where this run stopped");
  }

  void lock_for_run(std::chrono::milliseconds timeout) override {
    if (lock_conn_) return;
    // A dedicated session holds the lock, so the migration session's transactions and
    // errors never release it early; it is released when that session closes.
    Conn lock = connect(url_);
    const std::string key = std::to_string(kRunLockKey);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    bool waited = false;
    const std::string tenant = url_.schema.empty() ? std::string() : std::to_string(schema_lock_key(url_.schema));
    auto try_sql = [&](const char* sql, const std::string& k) {
      const char* values[] = {k.c_str()};
      Result r(pq().PQexecParams(lock.get(), sql, 1, nullptr, values, nullptr, nullptr, 0));
      if (!r || pq().PQresultStatus(r.get()) != PGRES_TUPLES_OK) throw to_error(r.get(), sql);
      return std::string(pq().PQgetvalue(r.get(), 0, 0)) == "t";
    };
    for (;;) {
      if (tenant.empty()) {
        if (try_sql("SELECT pg_try_advisory_lock($1::bigint)", key)) break;
      } else if (try_sql("SELECT pg_try_advisory_lock_shared($1::bigint)", key)) {
        if (try_sql("SELECT pg_try_advisory_lock($1::bigint)", tenant)) break;
        try_sql("SELECT pg_advisory_unlock_shared($1::bigint)", key);
      }
      if (std::chrono::steady_clock::now() >= deadline) throw run_lock_busy(url_.redacted(), timeout);
      if (util::interrupted_signal() != 0)
        throw DbError(Failure::other,
                      "stopped while waiting for the run lock on " + url_.redacted() + "; nothing was run", {}, {},
                      "run the command again");
      if (!waited) util::test_touch("waiting");
      // On every poll, not only the first: a test removes it and sees it again while kept out.
      util::test_touch("lock-busy");
      waited = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    lock_conn_ = std::move(lock);
    // Under the lock, so two runs of one tenant never race to create its schema; looked up
    // first because CREATE SCHEMA checks the CREATE privilege even when the schema exists.
    if (!url_.schema.empty() &&
        query("SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1", {url_.schema}).empty())
      execute("CREATE SCHEMA IF NOT EXISTS " + sql::quote_ident(url_.schema));
  }

 private:
  // Sends `statements` as one simple query, after the pending BEGIN if there is one (returns
  // whether there was).
  bool send(const std::vector<std::string>& statements) {
    const bool began = begin_pending_;
    begin_pending_ = false;
    std::string batch = began ? "BEGIN;\n" : "";
    for (const auto& s : statements) batch += s + ";\n";
    if (!pq().PQsendQuery(conn_.get(), batch.c_str())) fail_connection(began ? kBegin : statements.front());
    return began;
  }

  // Reads every result of what `send` sent; `error` is the first failure, naming its statement
  // (`statements[i]`, or BEGIN when `began`). Returns the last result.
  Result collect(const std::vector<std::string>& statements, bool began, std::optional<DbError>& error) {
    Result last;
    std::size_t index = 0;
    const std::size_t offset = began ? 1 : 0;
    while (PGresult* raw = pq().PQgetResult(conn_.get())) {
      Result r(raw);
      auto status = pq().PQresultStatus(r.get());
      const std::string& statement =
          index < offset || statements.empty() ? kBegin : statements[std::min(index - offset, statements.size() - 1)];
      if (status == PGRES_FATAL_ERROR && !error) {
        error = to_error(r.get(), statement);
      } else if (status == PGRES_COPY_IN || status == PGRES_COPY_OUT) {
        error = DbError(Failure::statement, "COPY is not supported in migrations", statement);
      }
      ++index;
      last = std::move(r);
    }
    return last;
  }

  // One statement's result (the tuples of a query), sent with a pending BEGIN where there is one.
  Result run_query(const std::string& sql, const std::vector<std::string>& params) {
    if (begin_pending_ && params.empty()) {
      // BEGIN and the query in one round trip (simple-query protocol, one statement after BEGIN,
      // results as text as PQexecParams gives them).
      const std::vector<std::string> statements{sql};
      const bool began = send(statements);
      std::optional<DbError> error;
      Result last = collect(statements, began, error);
      if (error) throw *error;
      return last;
    }
    if (begin_pending_) execute(std::vector<std::string>{});  // sends the BEGIN alone
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p.c_str());
    Result r(pq().PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(),
                               nullptr, nullptr, 0));
    if (!r) fail_connection(sql);
    auto status = pq().PQresultStatus(r.get());
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) throw to_error(r.get(), sql);
    return r;
  }

  std::vector<Row> rows_of(const PGresult* r) const {
    std::vector<Row> rows;
    if (!r) return rows;
    int n = pq().PQntuples(r), m = pq().PQnfields(r);
    rows.reserve(n);
    for (int i = 0; i < n; ++i) {
      Row row;
      for (int j = 0; j < m; ++j) {
        if (pq().PQgetisnull(r, i, j))
          row.emplace_back(std::nullopt);
        else
          row.emplace_back(std::string(pq().PQgetvalue(r, i, j), pq().PQgetlength(r, i, j)));
      }
      rows.push_back(std::move(row));
    }
    return rows;
  }

  [[noreturn]] void fail_connection(const std::string& statement) {
    throw DbError(Failure::connect,
                  "lost the connection to PostgreSQL at " + where(url_) + ": " +
                      config::redact_text(trim(pq().PQerrorMessage(conn_.get()))),
                  statement, {}, "check that the server is still running");
  }

  DbError to_error(const PGresult* r, const std::string& statement) const {
    if (!r) return DbError(Failure::connect, config::redact_text(trim(pq().PQerrorMessage(conn_.get()))), statement);
    auto field = [&](int code) {
      const char* v = pq().PQresultErrorField(r, code);
      return v ? std::string(v) : std::string();
    };
    std::string sqlstate = field(PG_DIAG_SQLSTATE);
    std::string msg = field(PG_DIAG_MESSAGE_PRIMARY);
    if (msg.empty()) msg = trim(pq().PQresultErrorMessage(r));
    std::string detail = field(PG_DIAG_MESSAGE_DETAIL);
    if (!detail.empty()) msg += " (" + detail + ")";
    if (!sqlstate.empty()) msg += " [SQLSTATE " + sqlstate + "]";
    return DbError(failure_of(sqlstate), config::redact_text(msg), statement, sqlstate, field(PG_DIAG_MESSAGE_HINT));
  }

  // What SIGINT/SIGTERM call (util/interrupt.hpp): PQcancel, which libpq documents as safe in a
  // signal handler, with a cancel object made beforehand (PQgetCancel is not).
  struct Cancel {
    decltype(&::PQcancel) cancel = nullptr;
    PGcancel* handle = nullptr;
    Cancel(decltype(&::PQcancel) fn, PGcancel* h) : cancel(fn), handle(h) {}
    ~Cancel() {
      if (handle) pq().PQfreeCancel(handle);
    }
    Cancel(const Cancel&) = delete;
    Cancel& operator=(const Cancel&) = delete;
    static void call(void* self) noexcept {
      auto* c = static_cast<Cancel*>(self);
      char error[256];
      if (c->handle) c->cancel(c->handle, error, sizeof error);
    }
  };

  inline static const std::string kBegin = "BEGIN";
  config::DatabaseUrl url_;
  // Declared before conn_, so closed after it: the run lock is released only once the data
  // session is gone, its transaction ended (committed or rolled back), never while a statement
  // of the run may still commit.
  Conn lock_conn_;
  Conn conn_;
  Cancel cancel_;
  util::InterruptTarget interrupt_{&cancel_, &Cancel::call};  // unregistered before cancel_ goes
  bool begin_pending_ = false;
};

}  // namespace

std::unique_ptr<Connection> open_postgresql(const config::DatabaseUrl& url, OpenMode mode) {
  return std::make_unique<PostgresConnection>(url, mode);
}

}  // namespace fastappkit::db
