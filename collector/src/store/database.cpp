#include "store/database.h"

namespace credsentry::collector {

int64_t AsInt(const SqlValue& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  if (const auto* s = std::get_if<std::string>(&v)) {
    try {
      return std::stoll(*s);
    } catch (...) {
      return 0;
    }
  }
  return 0;
}

std::string AsText(const SqlValue& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  return {};
}

Status Database::Transaction(const std::function<Status()>& body) {
  std::lock_guard lock(mu_);
  if (auto s = Exec(BeginStatement()); !s.ok()) return s.status();
  Status st = body();
  if (!st.ok()) {
    (void)Exec("ROLLBACK");
    return st;
  }
  if (auto s = Exec("COMMIT"); !s.ok()) {
    (void)Exec("ROLLBACK");
    return s.status();
  }
  return Status::Ok();
}

Result<std::unique_ptr<Database>> OpenDatabase(const std::string& url) {
  if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0) {
    return OpenPostgres(url);
  }
  if (url.rfind("sqlite:", 0) == 0) return OpenSqlite(url.substr(7));
  if (url.empty()) return Error{"empty database location (use a path, sqlite:PATH or postgres://)"};
  return OpenSqlite(url);
}

}  // namespace credsentry::collector
