// SQLite backend: one connection in WAL mode, serialised by a mutex. WAL lets the query CLI read
// while the server writes; synchronous=NORMAL means a committed (and acknowledged) batch
// survives a collector crash, and at worst the last commits before a power loss are lost.
#include <sqlite3.h>

#include <mutex>
#include <unordered_map>

#include "store/database.h"

namespace credsentry::collector {
namespace {

struct SqliteCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// `$7` -> `?7` outside string literals.
std::string ToSqlitePlaceholders(const std::string& sql) {
  std::string out = sql;
  bool in_quote = false;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '\'') in_quote = !in_quote;
    if (!in_quote && out[i] == '$' && i + 1 < out.size() && isdigit(out[i + 1])) out[i] = '?';
  }
  return out;
}

class SqliteDatabase final : public Database {
 public:
  explicit SqliteDatabase(sqlite3* db) : db_(db) {}
  const char* Dialect() const override { return "sqlite"; }
  // IMMEDIATE takes the write lock up front, so two processes on one file queue on the busy
  // timeout instead of failing on lock upgrade.
  const char* BeginStatement() const override { return "BEGIN IMMEDIATE"; }

  Result<int64_t> Exec(const std::string& sql, const std::vector<SqlValue>& params) override {
    std::lock_guard lock(mu_);
    auto stmt = Prepare(sql, params);
    if (!stmt.ok()) return stmt.error();
    int rc;
    while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) {
      Error failed = Failure("exec");
      Release(*stmt);
      return failed;
    }
    Release(*stmt);
    return static_cast<int64_t>(sqlite3_changes(db_.get()));
  }

  Result<std::vector<SqlRow>> Query(const std::string& sql,
                                    const std::vector<SqlValue>& params) override {
    std::lock_guard lock(mu_);
    auto stmt = Prepare(sql, params);
    if (!stmt.ok()) return stmt.error();
    std::vector<SqlRow> rows;
    int rc;
    while ((rc = sqlite3_step(*stmt)) == SQLITE_ROW) {
      int n = sqlite3_column_count(*stmt);
      SqlRow row;
      row.reserve(n);
      for (int c = 0; c < n; ++c) {
        switch (sqlite3_column_type(*stmt, c)) {
          case SQLITE_NULL:
            row.emplace_back(nullptr);
            break;
          case SQLITE_INTEGER:
            row.emplace_back(static_cast<int64_t>(sqlite3_column_int64(*stmt, c)));
            break;
          default: {
            const auto* text = sqlite3_column_text(*stmt, c);
            row.emplace_back(
                std::string(reinterpret_cast<const char*>(text), sqlite3_column_bytes(*stmt, c)));
          }
        }
      }
      rows.push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) {
      Error failed = Failure("query");
      Release(*stmt);
      return failed;
    }
    Release(*stmt);
    return rows;
  }

  Status Configure() {
    for (const char* pragma :
         {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON"}) {
      auto r = Query(pragma, {});
      if (!r.ok()) return r.status();
    }
    return Status::Ok();
  }

 private:
  // A cached, reset statement with `params` bound. Preparing is a large part of a small
  // INSERT's cost, and the ingest path runs the same few statements thousands of times a second.
  // The statement stays reset-able by the next caller: Reset() runs before every reuse.
  Result<sqlite3_stmt*> Prepare(const std::string& sql, const std::vector<SqlValue>& params) {
    sqlite3_stmt* raw = nullptr;
    if (auto it = statements_.find(sql); it != statements_.end()) {
      raw = it->second.get();
      sqlite3_reset(raw);
      sqlite3_clear_bindings(raw);
    } else {
      std::string text = ToSqlitePlaceholders(sql);
      if (sqlite3_prepare_v3(db_.get(), text.c_str(), static_cast<int>(text.size()),
                             SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
        return Failure("prepare");
      }
      if (statements_.size() >= kMaxPreparedStatements) statements_.clear();
      statements_.emplace(sql, StmtPtr(raw));
    }
    for (size_t i = 0; i < params.size(); ++i) {
      int idx = static_cast<int>(i + 1);
      int rc = SQLITE_OK;
      if (const auto* v = std::get_if<int64_t>(&params[i])) {
        rc = sqlite3_bind_int64(raw, idx, *v);
      } else if (const auto* s = std::get_if<std::string>(&params[i])) {
        // STATIC: params outlive the statement's use (reset before the caller returns).
        rc = sqlite3_bind_text(raw, idx, s->data(), static_cast<int>(s->size()), SQLITE_STATIC);
      } else {
        rc = sqlite3_bind_null(raw, idx);
      }
      if (rc != SQLITE_OK) return Failure("bind");
    }
    return raw;
  }

  // Ends the statement's read of the database (WAL checkpoints wait for readers) and drops the
  // bound params, which point into the caller's strings.
  static void Release(sqlite3_stmt* stmt) {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
  }

  Error Failure(const char* what) {
    return Error{std::string("sqlite ") + what + ": " + sqlite3_errmsg(db_.get())};
  }

  // Declared after db_: statements are finalized before the connection closes.
  std::unique_ptr<sqlite3, SqliteCloser> db_;
  std::unordered_map<std::string, StmtPtr> statements_;
};

}  // namespace

Result<std::unique_ptr<Database>> OpenSqlite(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close_v2(raw);
    return Error{"cannot open SQLite database '" + path + "': " + msg};
  }
  sqlite3_busy_timeout(raw, 10000);
  auto db = std::make_unique<SqliteDatabase>(raw);
  if (auto st = db->Configure(); !st.ok()) {
    return Error{"cannot configure SQLite database '" + path + "': " + st.message()};
  }
  return std::unique_ptr<Database>(std::move(db));
}

}  // namespace credsentry::collector
