#include "store/alert_store.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

namespace credsentry::collector {
namespace {

// Append-only list: a released schema is never edited; changes become a new entry.
// Plain SQL both SQLite and PostgreSQL accept.
const char* const kMigrations[] = {
    // 1: alerts, hosts, inventory
    R"(CREATE TABLE IF NOT EXISTS alerts (
         id TEXT PRIMARY KEY,
         time_ns BIGINT NOT NULL,
         received_ns BIGINT NOT NULL,
         host TEXT NOT NULL,
         kind TEXT NOT NULL,
         severity INTEGER NOT NULL,
         summary TEXT NOT NULL,
         secret_type TEXT NOT NULL,
         fingerprint TEXT NOT NULL,
         dest_host TEXT NOT NULL,
         collector TEXT NOT NULL,
         body TEXT NOT NULL);
       CREATE INDEX IF NOT EXISTS alerts_time ON alerts(time_ns);
       CREATE INDEX IF NOT EXISTS alerts_host ON alerts(host, time_ns);
       CREATE INDEX IF NOT EXISTS alerts_fingerprint ON alerts(fingerprint);
       CREATE TABLE IF NOT EXISTS hosts (
         host TEXT PRIMARY KEY,
         agent_version TEXT NOT NULL,
         first_seen_ns BIGINT NOT NULL,
         last_heartbeat_ns BIGINT NOT NULL,
         rules_version TEXT NOT NULL,
         kernel_features TEXT NOT NULL,
         counters TEXT NOT NULL,
         silent_alerted_ns BIGINT NOT NULL DEFAULT 0);
       CREATE TABLE IF NOT EXISTS inventory (
         host TEXT NOT NULL,
         path TEXT NOT NULL,
         type TEXT NOT NULL,
         provider TEXT NOT NULL,
         fingerprint TEXT NOT NULL,
         redacted TEXT NOT NULL,
         owner_uid BIGINT NOT NULL,
         file_mtime_ns BIGINT NOT NULL,
         reported_ns BIGINT NOT NULL,
         PRIMARY KEY (host, path, fingerprint));
       CREATE INDEX IF NOT EXISTS inventory_fingerprint ON inventory(fingerprint);)",
    // 2: the alert as base64 protobuf (EncodeAlertBody). Rendering JSON at ingest was a third of
    // the collector's CPU per alert; queries render it instead (rows of v1 keep `body` JSON).
    R"(ALTER TABLE alerts ADD COLUMN body_pb TEXT NOT NULL DEFAULT '')",
    // 3: the console. Its provider filter and polling cursor (received_ns, id) need columns and
    // an index; acknowledgements, rotations and the audit log are who-did-what records
    // (store/review_store.h). Rows stored before v3 have provider ''.
    R"(ALTER TABLE alerts ADD COLUMN provider TEXT NOT NULL DEFAULT '';
       CREATE INDEX IF NOT EXISTS alerts_received ON alerts(received_ns, id);
       CREATE TABLE IF NOT EXISTS alert_acks (
         alert_id TEXT PRIMARY KEY,
         acked_by TEXT NOT NULL,
         acked_ns BIGINT NOT NULL);
       CREATE TABLE IF NOT EXISTS credential_rotations (
         fingerprint TEXT PRIMARY KEY,
         rotated_by TEXT NOT NULL,
         rotated_ns BIGINT NOT NULL);
       CREATE TABLE IF NOT EXISTS audit_log (
         at_ns BIGINT NOT NULL,
         actor TEXT NOT NULL,
         action TEXT NOT NULL,
         target TEXT NOT NULL,
         collector TEXT NOT NULL,
         client TEXT NOT NULL);
       CREATE INDEX IF NOT EXISTS audit_log_time ON audit_log(at_ns);)",
};
constexpr int kSchemaVersion = sizeof kMigrations / sizeof kMigrations[0];

// Splits a migration on ';' (libpq and sqlite3_prepare take one statement at a time).
std::vector<std::string> Statements(const std::string& sql) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < sql.size()) {
    size_t end = sql.find(';', start);
    if (end == std::string::npos) end = sql.size();
    std::string stmt = sql.substr(start, end - start);
    if (stmt.find_first_not_of(" \n\t") != std::string::npos) out.push_back(stmt);
    start = end + 1;
  }
  return out;
}

std::string JsonList(const google::protobuf::RepeatedPtrField<std::string>& items) {
  return nlohmann::json(std::vector<std::string>(items.begin(), items.end())).dump();
}

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64(const std::string& in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out.push_back(kBase64[(v >> shift) & 63]);
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out.push_back(kBase64[(v >> 18) & 63]);
    out.push_back(kBase64[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kBase64[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

// Empty on malformed input (a damaged row renders as unreadable, it does not crash a query).
std::string Unbase64(const std::string& in) {
  int8_t value[256];
  std::fill(std::begin(value), std::end(value), int8_t{-1});
  for (int i = 0; i < 64; ++i) value[uint8_t(kBase64[i])] = static_cast<int8_t>(i);
  std::string out;
  out.reserve(in.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    int8_t v = value[uint8_t(c)];
    if (v < 0) return {};
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace

std::string EncodeAlertBody(const v1::Alert& alert) { return Base64(alert.SerializeAsString()); }

std::string StoredBodyToJson(const std::string& body_json, const std::string& body_pb) {
  if (body_pb.empty()) return body_json;  // stored before schema v2
  v1::Alert alert;
  std::string raw = Unbase64(body_pb);
  if (raw.empty() || !alert.ParseFromString(raw)) return R"({"error":"unreadable stored alert"})";
  return AlertToJson(alert);
}

std::string AlertToJson(const v1::Alert& alert) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opt;
  opt.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(alert, &out, opt);
  return out;
}

Status ValidateAlert(const v1::Alert& alert) {
  if (alert.id().empty()) return Error{"alert without id"};
  if (alert.id().size() > 256) return Error{"alert id longer than 256 bytes"};
  if (alert.host().empty()) return Error{"alert " + alert.id() + " without host"};
  if (alert.kind().empty()) return Error{"alert " + alert.id() + " without kind"};
  return Status::Ok();
}

Result<std::unique_ptr<AlertStore>> AlertStore::Open(const std::string& url) {
  auto db = OpenDatabase(url);
  if (!db.ok()) return db.error();
  auto store = std::make_unique<AlertStore>(std::move(*db));
  if (auto st = store->Migrate(); !st.ok()) return Error{"schema migration: " + st.message()};
  return store;
}

Status AlertStore::Migrate() {
  const bool pg = std::string(db_->Dialect()) == "postgres";
  // Two collectors starting on one PostgreSQL database must not migrate at once.
  if (pg) {
    if (auto r = db_->Query("SELECT pg_advisory_lock(72430611)"); !r.ok()) return r.status();
  }
  Status result = [&]() -> Status {
    auto made = db_->Exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "applied_ns BIGINT NOT NULL)");
    if (!made.ok()) return made.status();
    int current = SchemaVersion();
    if (current > kSchemaVersion) {
      return Error{"database schema version " + std::to_string(current) +
                   " is newer than this collector (" + std::to_string(kSchemaVersion) + ")"};
    }
    for (int v = current + 1; v <= kSchemaVersion; ++v) {
      Status st = db_->Transaction([&]() -> Status {
        for (const auto& stmt : Statements(kMigrations[v - 1])) {
          if (auto r = db_->Exec(stmt); !r.ok()) return r.status();
        }
        auto r = db_->Exec("INSERT INTO schema_migrations (version, applied_ns) VALUES ($1, $2)",
                           {int64_t{v}, int64_t{0}});
        return r.status();
      });
      if (!st.ok()) return Error{"migration " + std::to_string(v) + ": " + st.message()};
    }
    return Status::Ok();
  }();
  if (pg) (void)db_->Query("SELECT pg_advisory_unlock(72430611)");
  return result;
}

int AlertStore::SchemaVersion() {
  auto rows = db_->Query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!rows.ok() || rows->empty()) return 0;
  return static_cast<int>(AsInt((*rows)[0][0]));
}

Result<bool> AlertStore::InsertAlert(const v1::Alert& a, int64_t received_ns,
                                     const std::string& collector_id, std::string body) {
  auto changed = db_->Exec(
      "INSERT INTO alerts (id, time_ns, received_ns, host, kind, severity, summary, secret_type, "
      "fingerprint, dest_host, collector, body, body_pb, provider) "
      "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,'',$12,$13) ON CONFLICT (id) DO NOTHING",
      {a.id(), static_cast<int64_t>(a.time_ns()), received_ns, a.host(), a.kind(),
       int64_t{a.severity()}, a.summary(), a.secret().type(), a.secret().fingerprint(),
       a.destination().host(), collector_id, std::move(body), a.secret().provider()});
  if (!changed.ok()) return changed.error();
  return *changed > 0;
}

Result<IngestOutcome> AlertStore::PutAlerts(const v1::AlertBatch& batch, int64_t received_ns,
                                            const std::string& collector_id) {
  auto outcomes = PutAlertGroup({&batch}, received_ns, collector_id);
  if (!outcomes.ok()) return outcomes.error();
  return std::move(outcomes->front());
}

Result<std::vector<IngestOutcome>> AlertStore::PutAlertGroup(
    const std::vector<const v1::AlertBatch*>& batches, int64_t received_ns,
    const std::string& collector_id, const std::vector<const std::vector<std::string>*>& bodies) {
  std::vector<IngestOutcome> outcomes;
  Status st = db_->Transaction([&]() -> Status {
    outcomes.assign(batches.size(), IngestOutcome{});
    for (size_t b = 0; b < batches.size(); ++b) {
      IngestOutcome& out = outcomes[b];
      const auto* precomputed = b < bodies.size() ? bodies[b] : nullptr;
      int i = -1;
      for (const auto& alert : batches[b]->alerts()) {
        ++i;
        if (auto valid = ValidateAlert(alert); !valid.ok()) {
          auto& r = out.rejected.emplace_back();
          r.set_id(alert.id());
          r.set_reason(valid.message());
          continue;
        }
        std::string body = precomputed && static_cast<size_t>(i) < precomputed->size()
                               ? (*precomputed)[i]
                               : EncodeAlertBody(alert);
        auto inserted = InsertAlert(alert, received_ns, collector_id, std::move(body));
        if (!inserted.ok()) return inserted.status();
        out.acked.push_back(alert.id());
        if (*inserted) {
          out.fresh.push_back(&alert);
        } else {
          ++out.duplicates;
        }
      }
    }
    return Status::Ok();
  });
  if (!st.ok()) return st.message().empty() ? Error{"store failed"} : Error{st.message()};
  return outcomes;
}

Result<bool> AlertStore::PutCollectorAlert(const v1::Alert& alert, int64_t received_ns) {
  return InsertAlert(alert, received_ns, "collector", EncodeAlertBody(alert));
}

Status AlertStore::PutHeartbeat(const v1::Heartbeat& hb, int64_t received_ns) {
  if (hb.host().empty()) return Error{"heartbeat without host"};
  // std::map for a stable order in the stored text.
  nlohmann::json counters(
      std::map<std::string, uint64_t>(hb.counters().begin(), hb.counters().end()));
  // silent_alerted_ns resets: a host that speaks again may be reported silent again later.
  return db_
      ->Exec(
          "INSERT INTO hosts (host, agent_version, first_seen_ns, last_heartbeat_ns, "
          "rules_version, kernel_features, counters, silent_alerted_ns) "
          "VALUES ($1,$2,$3,$3,$4,$5,$6,0) ON CONFLICT (host) DO UPDATE SET "
          "agent_version = excluded.agent_version, last_heartbeat_ns = excluded.last_heartbeat_ns, "
          "rules_version = excluded.rules_version, kernel_features = excluded.kernel_features, "
          "counters = excluded.counters, silent_alerted_ns = 0",
          {hb.host(), hb.agent_version(), received_ns, hb.rules_version(),
           JsonList(hb.kernel_features()), counters.dump()})
      .status();
}

Status AlertStore::PutInventory(const v1::Inventory& inv, int64_t received_ns) {
  if (inv.host().empty()) return Error{"inventory without host"};
  return db_->Transaction([&]() -> Status {
    if (auto r = db_->Exec("DELETE FROM inventory WHERE host = $1", {inv.host()}); !r.ok()) {
      return r.status();
    }
    for (const auto& c : inv.credentials()) {
      auto r = db_->Exec(
          "INSERT INTO inventory (host, path, type, provider, fingerprint, redacted, owner_uid, "
          "file_mtime_ns, reported_ns) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) "
          "ON CONFLICT (host, path, fingerprint) DO NOTHING",
          {inv.host(), c.path(), c.type(), c.provider(), c.fingerprint(), c.redacted(),
           int64_t{c.owner_uid()}, static_cast<int64_t>(c.file_mtime_ns()), received_ns});
      if (!r.ok()) return r.status();
    }
    return Status::Ok();
  });
}

namespace {

// The columns every alert query selects, in the order ToStoredAlert reads them. The LEFT JOIN
// brings the console's acknowledgement along (NULL, read as "" and 0, when there is none).
constexpr const char* kAlertColumns =
    "SELECT a.id, a.host, a.kind, a.summary, a.fingerprint, a.dest_host, a.body, a.time_ns, "
    "a.received_ns, a.severity, a.body_pb, k.acked_by, k.acked_ns "
    "FROM alerts a LEFT JOIN alert_acks k ON k.alert_id = a.id ";

StoredAlert ToStoredAlert(const SqlRow& r) {
  return {AsText(r[0]), AsText(r[1]), AsText(r[2]), AsText(r[3]), AsText(r[4]), AsText(r[5]),
          StoredBodyToJson(AsText(r[6]), AsText(r[10])), AsInt(r[7]), AsInt(r[8]), AsInt(r[9]),
          AsText(r[11]), AsInt(r[12])};
}

}  // namespace

Result<std::vector<StoredAlert>> AlertStore::QueryAlerts(const AlertFilter& f) {
  // Integer params are CAST where they are first compared with a literal: PostgreSQL would
  // otherwise infer int4 for them from the literal, and a nanosecond time does not fit.
  static const std::string kWhere =
      std::string(kAlertColumns) +
      "WHERE a.time_ns >= $1 AND ($2 = '' OR a.host = $2) AND ($3 = '' OR a.kind = $3) AND "
      "($4 = '' OR a.fingerprint = $4) AND (CAST($6 AS BIGINT) = 0 OR a.time_ns < $6) AND "
      "a.severity >= $7 AND ($8 = '' OR a.provider = $8) AND "
      "(CAST($9 AS BIGINT) = 0 OR a.time_ns < $9 OR (a.time_ns = $9 AND a.id < $10)) AND "
      "(CAST($11 AS BIGINT) < 0 OR a.received_ns > $11 OR (a.received_ns = $11 AND a.id > $12)) ";
  static const std::string kOldestFirst = kWhere + "ORDER BY a.time_ns, a.id LIMIT $5";
  static const std::string kNewestFirst = kWhere + "ORDER BY a.time_ns DESC, a.id DESC LIMIT $5";
  auto rows = db_->Query(f.newest_first ? kNewestFirst : kOldestFirst,
                         {f.since_ns, f.host, f.kind, f.fingerprint, f.limit, f.until_ns,
                          f.min_severity, f.provider, f.before_time_ns, f.before_id,
                          f.after_received_ns, f.after_id});
  if (!rows.ok()) return rows.error();
  std::vector<StoredAlert> out;
  out.reserve(rows->size());
  for (const auto& r : *rows) out.push_back(ToStoredAlert(r));
  return out;
}

Result<std::optional<StoredAlert>> AlertStore::AlertById(const std::string& id) {
  static const std::string kById = std::string(kAlertColumns) + "WHERE a.id = $1";
  auto rows = db_->Query(kById, {id});
  if (!rows.ok()) return rows.error();
  if (rows->empty()) return std::optional<StoredAlert>{};
  return std::optional<StoredAlert>{ToStoredAlert(rows->front())};
}

Result<std::pair<int64_t, std::string>> AlertStore::LatestReceived() {
  auto rows =
      db_->Query("SELECT received_ns, id FROM alerts ORDER BY received_ns DESC, id DESC LIMIT 1");
  if (!rows.ok()) return rows.error();
  if (rows->empty()) return std::pair<int64_t, std::string>{0, ""};
  return std::pair{AsInt(rows->front()[0]), AsText(rows->front()[1])};
}

Result<std::vector<HostStatus>> AlertStore::Hosts() {
  auto rows = db_->Query(
      "SELECT host, agent_version, rules_version, counters, first_seen_ns, last_heartbeat_ns, "
      "silent_alerted_ns FROM hosts ORDER BY host");
  if (!rows.ok()) return rows.error();
  std::vector<HostStatus> out;
  for (const auto& r : *rows) {
    out.push_back({AsText(r[0]), AsText(r[1]), AsText(r[2]), AsText(r[3]), AsInt(r[4]), AsInt(r[5]),
                   AsInt(r[6])});
  }
  return out;
}

Result<std::vector<InventoryEntry>> AlertStore::Inventory(const std::string& host,
                                                          const std::string& fingerprint) {
  auto rows = db_->Query(
      "SELECT host, path, type, provider, fingerprint, redacted, owner_uid, file_mtime_ns, "
      "reported_ns FROM inventory WHERE ($1 = '' OR host = $1) AND ($2 = '' OR fingerprint = $2) "
      "ORDER BY host, path",
      {host, fingerprint});
  if (!rows.ok()) return rows.error();
  std::vector<InventoryEntry> out;
  for (const auto& r : *rows) {
    out.push_back({AsText(r[0]), AsText(r[1]), AsText(r[2]), AsText(r[3]), AsText(r[4]),
                   AsText(r[5]), AsInt(r[6]), AsInt(r[7]), AsInt(r[8])});
  }
  return out;
}

Result<std::vector<EgressSummary>> AlertStore::Egress(const std::string& fingerprint) {
  auto rows = db_->Query(
      "SELECT host, dest_host, COUNT(*), MAX(time_ns) FROM alerts WHERE fingerprint = $1 "
      "AND kind NOT LIKE 'fleet-%' GROUP BY host, dest_host ORDER BY host, dest_host",
      {fingerprint});
  if (!rows.ok()) return rows.error();
  std::vector<EgressSummary> out;
  for (const auto& r : *rows) out.push_back({AsText(r[0]), AsText(r[1]), AsInt(r[2]), AsInt(r[3])});
  return out;
}

Result<int64_t> AlertStore::CountStoringHosts(const std::string& fingerprint) {
  auto rows = db_->Query("SELECT COUNT(DISTINCT host) FROM inventory WHERE fingerprint = $1",
                         {fingerprint});
  if (!rows.ok()) return rows.error();
  return rows->empty() ? 0 : AsInt((*rows)[0][0]);
}

Result<bool> AlertStore::IsStoredOn(const std::string& fingerprint, const std::string& host) {
  auto rows = db_->Query("SELECT 1 FROM inventory WHERE fingerprint = $1 AND host = $2 LIMIT 1",
                         {fingerprint, host});
  if (!rows.ok()) return rows.error();
  return !rows->empty();
}

Status AlertStore::MarkSilentAlerted(const std::string& host, int64_t at_ns) {
  return db_->Exec("UPDATE hosts SET silent_alerted_ns = $1 WHERE host = $2", {at_ns, host})
      .status();
}

}  // namespace credsentry::collector
