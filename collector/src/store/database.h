// One small SQL interface under the store, so the alert store's SQL is written once and runs on
// SQLite (default, embedded) and PostgreSQL (shared by several collectors). Statements use
// PostgreSQL-style `$1, $2, ...` placeholders; the SQLite backend maps them to `?1, ?2, ...`.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"

namespace credsentry::collector {

using SqlValue = std::variant<std::nullptr_t, int64_t, std::string>;
using SqlRow = std::vector<SqlValue>;

// Column helpers: NULL reads as 0 / "".
int64_t AsInt(const SqlValue& v);
std::string AsText(const SqlValue& v);

class Database {
 public:
  virtual ~Database() = default;
  virtual const char* Dialect() const = 0;  // "sqlite" or "postgres"
  // Runs one statement; returns the number of rows it changed.
  virtual Result<int64_t> Exec(const std::string& sql,
                               const std::vector<SqlValue>& params = {}) = 0;
  virtual Result<std::vector<SqlRow>> Query(const std::string& sql,
                                            const std::vector<SqlValue>& params = {}) = 0;
  // Runs `body` inside one transaction; commits when it returns ok, rolls back otherwise. The
  // connection is held for the whole body, so other threads wait rather than interleave.
  Status Transaction(const std::function<Status()>& body);

 protected:
  // The statement that opens a transaction in this dialect.
  virtual const char* BeginStatement() const { return "BEGIN"; }
  // One connection per backend: Exec and Query take it too (recursive: a transaction body runs
  // its statements while Transaction holds it).
  std::recursive_mutex mu_;
};

// Backends keep their prepared statements by SQL text; the store's SQL is a fixed set of
// literals, so this bound is never reached in practice and only guards against a caller that
// builds SQL text dynamically.
inline constexpr size_t kMaxPreparedStatements = 64;

// Opens "sqlite:PATH", a plain PATH, or "postgres://..." / "postgresql://...".
Result<std::unique_ptr<Database>> OpenDatabase(const std::string& url);

Result<std::unique_ptr<Database>> OpenSqlite(const std::string& path);
Result<std::unique_ptr<Database>> OpenPostgres(const std::string& conninfo);

}  // namespace credsentry::collector
