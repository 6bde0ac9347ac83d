#include "query/query_cli.h"

#include <unistd.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "ingest/collector_service.h"
#include "query/flags.h"
#include "store/alert_store.h"

namespace credsentry::collector {
namespace {

constexpr const char* kDefaultDb = "/var/lib/credsentry/collector.db";

std::string IsoTime(int64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1'000'000'000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

const char* SeverityText(int64_t s) {
  static const char* names[] = {"unspecified", "low", "medium", "high", "critical"};
  return s >= 0 && s <= 4 ? names[s] : "unknown";
}

int Alerts(AlertStore& store, const Flags& f, std::ostream& out, std::ostream& err) {
  AlertFilter filter;
  if (auto since = f.Get("since"); !since.empty()) {
    auto d = ParseDuration(since);
    if (!d.ok()) {
      err << "credsentry-collector alerts: --since: " << d.message() << "\n";
      return 2;
    }
    filter.since_ns = NowNs() - *d;
  }
  filter.host = f.Get("host");
  filter.kind = f.Get("kind");
  filter.fingerprint = f.Get("fingerprint");
  try {
    filter.limit = std::stoll(f.Get("limit", "1000"));
  } catch (...) {
    err << "credsentry-collector alerts: --limit must be a number\n";
    return 2;
  }
  auto alerts = store.QueryAlerts(filter);
  if (!alerts.ok()) {
    err << "credsentry-collector alerts: " << alerts.message() << "\n";
    return 1;
  }
  for (const auto& a : *alerts) {
    if (f.Has("json")) {
      out << a.body_json << "\n";
    } else {
      out << IsoTime(a.time_ns) << "  " << SeverityText(a.severity) << "  " << a.host << "  "
          << a.kind << "  " << a.summary << "  [" << a.id << "]\n";
    }
  }
  return 0;
}

int Hosts(AlertStore& store, const Flags& f, std::ostream& out, std::ostream& err) {
  auto hosts = store.Hosts();
  if (!hosts.ok()) {
    err << "credsentry-collector hosts: " << hosts.message() << "\n";
    return 1;
  }
  int64_t now = NowNs();
  for (const auto& h : *hosts) {
    int64_t age_s = (now - h.last_heartbeat_ns) / 1'000'000'000;
    if (f.Has("json")) {
      nlohmann::json j = {{"host", h.host},
                          {"agent_version", h.agent_version},
                          {"rules_version", h.rules_version},
                          {"first_seen", IsoTime(h.first_seen_ns)},
                          {"last_heartbeat", IsoTime(h.last_heartbeat_ns)},
                          {"heartbeat_age_s", age_s},
                          {"silent", h.silent_alerted_ns != 0},
                          {"counters", nlohmann::json::parse(h.counters_json, nullptr, false)}};
      out << j.dump() << "\n";
    } else {
      out << h.host << "  agent " << h.agent_version << "  last heartbeat "
          << IsoTime(h.last_heartbeat_ns) << " (" << age_s << "s ago)"
          << (h.silent_alerted_ns ? "  SILENT" : "") << "\n";
    }
  }
  return 0;
}

int InventoryView(AlertStore& store, const Flags& f, std::ostream& out, std::ostream& err) {
  auto entries = store.Inventory(f.Get("host"), f.Get("fingerprint"));
  if (!entries.ok()) {
    err << "credsentry-collector inventory: " << entries.message() << "\n";
    return 1;
  }
  for (const auto& e : *entries) {
    if (f.Has("json")) {
      nlohmann::json j = {{"host", e.host},           {"path", e.path},
                          {"type", e.type},           {"provider", e.provider},
                          {"fingerprint", e.fingerprint}, {"redacted", e.redacted},
                          {"owner_uid", e.owner_uid}, {"file_mtime", IsoTime(e.file_mtime_ns)},
                          {"reported", IsoTime(e.reported_ns)}};
      out << j.dump() << "\n";
    } else {
      out << e.host << "  " << e.path << "  " << e.type << "  " << e.redacted << "  "
          << e.fingerprint << "\n";
    }
  }
  // "where does this key live, and which hosts have sent it where"
  if (auto fp = f.Get("fingerprint"); !fp.empty()) {
    auto egress = store.Egress(fp);
    if (!egress.ok()) {
      err << "credsentry-collector inventory: " << egress.message() << "\n";
      return 1;
    }
    for (const auto& e : *egress) {
      if (f.Has("json")) {
        out << nlohmann::json{{"sent_from", e.host}, {"sent_to", e.dest_host},
                              {"alerts", e.alerts}, {"last", IsoTime(e.last_ns)}}
                   .dump()
            << "\n";
      } else {
        out << "sent from " << e.host << " to " << (e.dest_host.empty() ? "?" : e.dest_host)
            << "  (" << e.alerts << " alerts, last " << IsoTime(e.last_ns) << ")\n";
      }
    }
  }
  return 0;
}

}  // namespace

int RunQueryCommand(const std::string& command, const std::vector<std::string>& args,
                    std::ostream& out, std::ostream& err) {
  auto flags = ParseFlags(args, {"db", "since", "host", "kind", "fingerprint", "limit"}, {"json"});
  if (!flags.ok()) {
    err << "credsentry-collector " << command << ": " << flags.message() << "\n";
    return 2;
  }
  if (auto since = flags->Get("since"); !since.empty()) {
    if (auto d = ParseDuration(since); !d.ok()) {
      err << "credsentry-collector " << command << ": --since: " << d.message() << "\n";
      return 2;
    }
  }
  const char* env_db = getenv("CREDSENTRY_COLLECTOR_DB");
  std::string db = flags->Get("db", env_db ? env_db : kDefaultDb);
  // A query never creates a database: a wrong path would otherwise look like "no alerts".
  bool is_postgres = db.rfind("postgres", 0) == 0;
  std::string path = db.rfind("sqlite:", 0) == 0 ? db.substr(7) : db;
  if (!is_postgres && access(path.c_str(), F_OK) != 0) {
    err << "credsentry-collector " << command << ": no collector database at '" << path
        << "' (use --db)\n";
    return 1;
  }
  auto store = AlertStore::Open(db);
  if (!store.ok()) {
    err << "credsentry-collector " << command << ": " << store.message() << "\n";
    return 1;
  }
  if (command == "alerts") return Alerts(**store, *flags, out, err);
  if (command == "hosts") return Hosts(**store, *flags, out, err);
  if (command == "inventory") return InventoryView(**store, *flags, out, err);
  err << "credsentry-collector: unknown command '" << command << "'\n";
  return 2;
}

}  // namespace credsentry::collector
