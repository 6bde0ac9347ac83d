// PostgreSQL backend (libpq): what lets several collectors behind a load balancer share one
// database. One connection per collector process, serialised by a mutex; text-format params.
#include <libpq-fe.h>

#include <mutex>
#include <unordered_map>

#include "store/database.h"

namespace credsentry::collector {
namespace {

struct PgConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PgResultClear {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResultPtr = std::unique_ptr<PGresult, PgResultClear>;

// Collapses libpq's multi-line messages to one line for the log.
std::string OneLine(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (auto& c : s) {
    if (c == '\n') c = ' ';
  }
  return s;
}

class PostgresDatabase final : public Database {
 public:
  explicit PostgresDatabase(PGconn* c) : conn_(c) {}
  const char* Dialect() const override { return "postgres"; }

  Result<int64_t> Exec(const std::string& sql, const std::vector<SqlValue>& params) override {
    std::lock_guard lock(mu_);
    auto res = Run(sql, params);
    if (!res.ok()) return res.error();
    const char* n = PQcmdTuples(res->get());
    return static_cast<int64_t>(n && *n ? std::stoll(n) : 0);
  }

  Result<std::vector<SqlRow>> Query(const std::string& sql,
                                    const std::vector<SqlValue>& params) override {
    std::lock_guard lock(mu_);
    auto res = Run(sql, params);
    if (!res.ok()) return res.error();
    PGresult* r = res->get();
    std::vector<SqlRow> rows;
    int nrows = PQntuples(r), ncols = PQnfields(r);
    rows.reserve(nrows);
    for (int i = 0; i < nrows; ++i) {
      SqlRow row;
      row.reserve(ncols);
      for (int c = 0; c < ncols; ++c) {
        if (PQgetisnull(r, i, c)) {
          row.emplace_back(nullptr);
        } else if (Oid t = PQftype(r, c); t == 20 || t == 21 || t == 23) {  // int8/int2/int4
          row.emplace_back(static_cast<int64_t>(std::stoll(PQgetvalue(r, i, c))));
        } else {
          row.emplace_back(std::string(PQgetvalue(r, i, c), PQgetlength(r, i, c)));
        }
      }
      rows.push_back(std::move(row));
    }
    return rows;
  }

 private:
  Result<PgResultPtr> Run(const std::string& sql, const std::vector<SqlValue>& params) {
    if (PQstatus(conn_.get()) != CONNECTION_OK) {
      PQreset(conn_.get());
      statements_.clear();  // a new server session knows none of our prepared statements
    }
    std::vector<std::string> text(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    for (size_t i = 0; i < params.size(); ++i) {
      if (const auto* v = std::get_if<int64_t>(&params[i])) {
        text[i] = std::to_string(*v);
        values[i] = text[i].c_str();
      } else if (const auto* s = std::get_if<std::string>(&params[i])) {
        values[i] = s->c_str();
      }
    }
    auto name = Prepared(sql, static_cast<int>(params.size()));
    if (!name.ok()) return name.error();
    PgResultPtr res(PQexecPrepared(conn_.get(), name->c_str(), static_cast<int>(params.size()),
                                   values.data(), nullptr, nullptr, 0));
    auto status = PQresultStatus(res.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      return Error{"postgres: " + OneLine(PQresultErrorMessage(res.get()))};
    }
    return res;
  }

  // The server-side name of `sql`, preparing it on first use: parse and plan once, not per
  // alert. Statements without params (BEGIN, COMMIT, migrations) are cheap to parse and are
  // prepared all the same, so every call takes one path.
  Result<std::string> Prepared(const std::string& sql, int nparams) {
    if (auto it = statements_.find(sql); it != statements_.end()) return it->second;
    if (statements_.size() >= kMaxPreparedStatements) {
      PgResultPtr(PQexec(conn_.get(), "DEALLOCATE ALL"));
      statements_.clear();
    }
    std::string name = "cs" + std::to_string(next_statement_++);
    PgResultPtr res(PQprepare(conn_.get(), name.c_str(), sql.c_str(), nparams, nullptr));
    if (PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
      return Error{"postgres: " + OneLine(PQresultErrorMessage(res.get()))};
    }
    statements_.emplace(sql, name);
    return name;
  }

  std::unique_ptr<PGconn, PgConnCloser> conn_;
  std::unordered_map<std::string, std::string> statements_;  // SQL text -> prepared name
  uint64_t next_statement_ = 0;
};

}  // namespace

Result<std::unique_ptr<Database>> OpenPostgres(const std::string& conninfo) {
  std::unique_ptr<PGconn, PgConnCloser> conn(PQconnectdb(conninfo.c_str()));
  if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
    // The URL may carry a password: name the server side of the failure, not the URL.
    return Error{"cannot connect to PostgreSQL: " + OneLine(PQerrorMessage(conn.get()))};
  }
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);
  return std::unique_ptr<Database>(std::make_unique<PostgresDatabase>(conn.release()));
}

}  // namespace credsentry::collector
