#include "console/console_api.h"

#include <time.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "query/flags.h"

namespace credsentry::collector::console {
namespace {

using nlohmann::json;

constexpr size_t kMaxParamChars = 512;

ApiReply Ok(const json& body) { return {200, body.dump(-1, ' ', false, json::error_handler_t::replace)}; }

ApiReply StoreFailed(const std::string& what) {
  return ErrorReply(503, "the store failed to answer (" + what + "); try again");
}

// "SEVERITY_HIGH" -> "high".
std::string SeverityWord(int64_t s) {
  std::string name = v1::Severity_Name(static_cast<v1::Severity>(s));
  if (name.rfind("SEVERITY_", 0) == 0) name = name.substr(9);
  std::transform(name.begin(), name.end(), name.begin(), ::tolower);
  return name.empty() ? "unspecified" : name;
}

Result<int64_t> SeverityValue(const std::string& word) {
  for (int64_t s = v1::Severity_MIN; s <= v1::Severity_MAX; ++s) {
    if (SeverityWord(s) == word) return s;
  }
  return Error{"severity must be low, medium, high or critical, not '" + word + "'"};
}

bool AllDigits(const std::string& s) {
  return !s.empty() && s.size() <= 19 && s.find_first_not_of("0123456789") == std::string::npos;
}

// RFC 3339 ("2026-12-02T17:00:00Z", fractions and offsets other than Z refused for
// simplicity), nanoseconds since the epoch, or a duration back from now ("1h").
Result<int64_t> ParseTime(const std::string& name, const std::string& text, int64_t now_ns) {
  if (AllDigits(text)) return static_cast<int64_t>(std::stoll(text));
  if (auto back = ParseDuration(text); back.ok()) return now_ns - *back;
  struct tm tm {};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end && (std::string(end) == "Z" || std::string(end) == "z")) {
    return static_cast<int64_t>(timegm(&tm)) * 1'000'000'000;
  }
  return Error{name + " must be an RFC 3339 UTC time (2026-12-02T17:00:00Z), nanoseconds " +
               "since the epoch, or a duration back from now (15m, 1h, 7d)"};
}

// "<ns>:<id>" -> both parts (the id may hold ':').
bool ParseCursor(const std::string& text, int64_t* ns, std::string* id) {
  size_t colon = text.find(':');
  if (colon == std::string::npos || !AllDigits(text.substr(0, colon))) return false;
  *ns = std::stoll(text.substr(0, colon));
  *id = text.substr(colon + 1);
  return true;
}

std::string Cursor(int64_t ns, const std::string& id) { return std::to_string(ns) + ":" + id; }

json ParsedBody(const std::string& body_json) {
  json body = json::parse(body_json, nullptr, false);
  return body.is_discarded() ? json::object() : body;
}

// The fields the timeline shows, from the row and its stored alert.
json AlertSummary(const StoredAlert& a, const json& body) {
  json secret = body.value("secret", json::object());
  json dest = body.value("destination", json::object());
  json process = body.value("process", json::object());
  json out = {
      {"id", a.id},
      {"time", Rfc3339(a.time_ns)},
      {"time_ns", std::to_string(a.time_ns)},
      {"received", Rfc3339(a.received_ns)},
      {"host", a.host},
      {"kind", a.kind},
      {"severity", SeverityWord(a.severity)},
      {"summary", a.summary},
      {"provider", secret.value("provider", "")},
      {"secret_type", secret.value("type", "")},
      {"redacted", secret.value("redacted", "")},
      {"fingerprint", a.fingerprint},
      {"destination", dest.value("host", a.dest_host)},
      {"process", process.value("comm", "")},
      {"acknowledged", nullptr},
  };
  if (!a.acked_by.empty()) {
    out["acknowledged"] = {{"by", a.acked_by}, {"at", Rfc3339(a.acked_ns)}};
  }
  return out;
}

json DecisionJson(const std::optional<Decision>& d) {
  if (!d) return nullptr;
  return {{"by", d->by}, {"at", Rfc3339(d->at_ns)}};
}

json CredentialJson(const CredentialSummary& c) {
  return {{"fingerprint", c.fingerprint},
          {"type", c.type},
          {"provider", c.provider},
          {"redacted", c.redacted},
          {"first_seen", Rfc3339(c.first_seen_ns)},
          {"last_seen", Rfc3339(c.last_seen_ns)},
          {"alerts", c.alerts},
          {"sending_hosts", c.sending_hosts},
          {"storing_hosts", c.storing_hosts},
          {"rotated", DecisionJson(c.rotated)}};
}

// Counters that say something was lost: drops, losses and truncations, when not zero.
bool IsLossCounter(const std::string& name) {
  for (const char* word : {"drop", "lost", "truncat", "overflow"}) {
    if (name.find(word) != std::string::npos) return true;
  }
  return false;
}

std::string Param(const QueryParams& params, const std::string& name) {
  auto it = params.find(name);
  return it == params.end() ? "" : it->second;
}

}  // namespace

ApiReply ErrorReply(int status, const std::string& message) {
  return {status, json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace)};
}

std::string Rfc3339(int64_t ns) {
  if (ns <= 0) return "";
  time_t secs = static_cast<time_t>(ns / 1'000'000'000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[40];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>((ns / 1'000'000) % 1000));
  return buf;
}

ApiReply ConsoleApi::Alerts(const QueryParams& params, int64_t now_ns) {
  for (const auto& [name, value] : params) {
    if (value.size() > kMaxParamChars) return ErrorReply(400, name + " is too long");
  }
  AlertFilter f;
  f.newest_first = true;
  f.host = Param(params, "host");
  f.kind = Param(params, "kind");
  f.provider = Param(params, "provider");
  f.fingerprint = Param(params, "fingerprint");
  if (auto s = Param(params, "severity"); !s.empty()) {
    auto v = SeverityValue(s);
    if (!v.ok()) return ErrorReply(400, v.message());
    f.min_severity = *v;
  }
  for (auto [name, field] : {std::pair{"since", &f.since_ns}, {"until", &f.until_ns}}) {
    if (auto t = Param(params, name); !t.empty()) {
      auto v = ParseTime(name, t, now_ns);
      if (!v.ok()) return ErrorReply(400, v.message());
      *field = *v;
    }
  }
  f.limit = kDefaultAlerts;
  if (auto l = Param(params, "limit"); !l.empty()) {
    if (!AllDigits(l) || std::stoll(l) < 1) return ErrorReply(400, "limit must be 1 to 500");
    f.limit = std::min<int64_t>(std::stoll(l), kMaxAlerts);
  }
  if (auto b = Param(params, "before"); !b.empty()) {
    if (!ParseCursor(b, &f.before_time_ns, &f.before_id)) {
      return ErrorReply(400, "before must be a next_before value from an earlier answer");
    }
  }
  if (auto a = Param(params, "after"); !a.empty() && !ParseCursor(a, &f.after_received_ns, &f.after_id)) {
    return ErrorReply(400, "after must be a poll_after value from an earlier answer");
  }
  // The polling cursor is read first: an alert stored while the page is read comes in this
  // answer and again in the next poll (the console keeps each id once), never in neither.
  auto latest = store_.LatestReceived();
  if (!latest.ok()) return StoreFailed(latest.message());
  auto rows = store_.QueryAlerts(f);
  if (!rows.ok()) return StoreFailed(rows.message());
  json list = json::array();
  for (const auto& a : *rows) list.push_back(AlertSummary(a, ParsedBody(a.body_json)));
  json out = {{"alerts", list},
              {"next_before", nullptr},
              {"poll_after", Cursor(latest->first, latest->second)}};
  if (static_cast<int64_t>(rows->size()) == f.limit) {
    out["next_before"] = Cursor(rows->back().time_ns, rows->back().id);
  }
  return Ok(out);
}

ApiReply ConsoleApi::Alert(const std::string& id) {
  auto row = store_.AlertById(id);
  if (!row.ok()) return StoreFailed(row.message());
  if (!*row) return ErrorReply(404, "no alert with this id");
  const StoredAlert& a = **row;
  json body = ParsedBody(a.body_json);
  json out = AlertSummary(a, body);
  out["alert"] = body;  // everything the agent sent: process, ancestors, CI, evidence, ...
  auto rotated = reviews_.Rotation(a.fingerprint);
  if (!rotated.ok()) return StoreFailed(rotated.message());
  out["credential_rotated"] = DecisionJson(*rotated);
  return Ok(out);
}

ApiReply ConsoleApi::Hosts(int64_t now_ns) {
  auto hosts = store_.Hosts();
  if (!hosts.ok()) return StoreFailed(hosts.message());
  json list = json::array();
  for (const auto& h : *hosts) {
    json drops = json::object();
    json counters = json::parse(h.counters_json, nullptr, false);
    if (counters.is_object()) {
      for (const auto& [name, value] : counters.items()) {
        if (IsLossCounter(name) && value.is_number() && value.get<double>() != 0) {
          drops[name] = value;
        }
      }
    }
    bool silent = h.silent_alerted_ns != 0 ||
                  now_ns - h.last_heartbeat_ns > options_.heartbeat_timeout_ns;
    list.push_back({{"host", h.host},
                    {"agent_version", h.agent_version},
                    {"rules_version", h.rules_version},
                    {"first_seen", Rfc3339(h.first_seen_ns)},
                    {"last_heartbeat", Rfc3339(h.last_heartbeat_ns)},
                    {"silent", silent},
                    {"drops", drops}});
  }
  return Ok({{"hosts", list}});
}

ApiReply ConsoleApi::Credentials() {
  auto creds = reviews_.Credentials();
  if (!creds.ok()) return StoreFailed(creds.message());
  json list = json::array();
  for (const auto& c : *creds) list.push_back(CredentialJson(c));
  return Ok({{"credentials", list}});
}

ApiReply ConsoleApi::Credential(const std::string& fingerprint) {
  auto creds = reviews_.Credentials(fingerprint);
  if (!creds.ok()) return StoreFailed(creds.message());
  if (creds->empty()) return ErrorReply(404, "no alert or inventory names this fingerprint");
  json out = CredentialJson(creds->front());
  auto stored = store_.Inventory("", fingerprint);
  if (!stored.ok()) return StoreFailed(stored.message());
  json stored_on = json::array();
  for (const auto& e : *stored) {
    stored_on.push_back({{"host", e.host},
                         {"path", e.path},
                         {"owner_uid", e.owner_uid},
                         {"file_modified", Rfc3339(e.file_mtime_ns)},
                         {"reported", Rfc3339(e.reported_ns)}});
  }
  auto egress = store_.Egress(fingerprint);
  if (!egress.ok()) return StoreFailed(egress.message());
  json sent = json::array();
  for (const auto& e : *egress) {
    sent.push_back({{"host", e.host},
                    {"destination", e.dest_host},
                    {"alerts", e.alerts},
                    {"last", Rfc3339(e.last_ns)}});
  }
  out["stored_on"] = stored_on;
  out["sent"] = sent;
  return Ok(out);
}

ApiReply ConsoleApi::Ack(const std::string& alert_id, const Actor& actor, int64_t now_ns) {
  auto row = store_.AlertById(alert_id);
  if (!row.ok()) return StoreFailed(row.message());
  if (!*row) return ErrorReply(404, "no alert with this id");
  auto d = reviews_.AckAlert(alert_id, actor, now_ns);
  if (!d.ok()) return StoreFailed(d.message());
  return Ok({{"alert_id", alert_id}, {"acknowledged", DecisionJson(*d)}});
}

ApiReply ConsoleApi::Rotated(const std::string& fingerprint, const Actor& actor, int64_t now_ns) {
  auto creds = reviews_.Credentials(fingerprint);
  if (!creds.ok()) return StoreFailed(creds.message());
  if (creds->empty()) return ErrorReply(404, "no alert or inventory names this fingerprint");
  auto d = reviews_.MarkRotated(fingerprint, actor, now_ns);
  if (!d.ok()) return StoreFailed(d.message());
  return Ok({{"fingerprint", fingerprint}, {"rotated", DecisionJson(*d)}});
}

ApiReply ConsoleApi::Audit(const QueryParams& params) {
  int64_t limit = 200;
  if (auto l = Param(params, "limit"); !l.empty()) {
    if (!AllDigits(l) || std::stoll(l) < 1) return ErrorReply(400, "limit must be 1 to 1000");
    limit = std::min<int64_t>(std::stoll(l), ReviewStore::kMaxAuditRows);
  }
  auto rows = reviews_.Audit(limit);
  if (!rows.ok()) return StoreFailed(rows.message());
  json list = json::array();
  for (const auto& e : *rows) {
    list.push_back({{"at", Rfc3339(e.at_ns)},
                    {"actor", e.actor},
                    {"action", e.action},
                    {"target", e.target},
                    {"collector", e.collector},
                    {"client", e.client}});
  }
  return Ok({{"audit", list}});
}

}  // namespace credsentry::collector::console
