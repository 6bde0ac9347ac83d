#include "store/review_store.h"

#include <algorithm>
#include <map>

namespace credsentry::collector {
namespace {

constexpr const char* kRotationSql =
    "SELECT rotated_by, rotated_ns FROM credential_rotations WHERE fingerprint = $1";

}  // namespace

Result<Decision> ReviewStore::Decide(const char* insert_sql, const char* select_sql,
                                     const char* action, const std::string& target,
                                     const Actor& actor, int64_t now_ns) {
  Decision standing;
  Status st = db_.Transaction([&]() -> Status {
    // ON CONFLICT DO NOTHING: on a shared database the first collector to commit wins, and
    // the others read its row back below.
    if (auto r = db_.Exec(insert_sql, {target, actor.name, now_ns}); !r.ok()) return r.status();
    auto audit = db_.Exec(
        "INSERT INTO audit_log (at_ns, actor, action, target, collector, client) "
        "VALUES ($1,$2,$3,$4,$5,$6)",
        {now_ns, actor.name, std::string(action), target, actor.collector, actor.client});
    if (!audit.ok()) return audit.status();
    auto rows = db_.Query(select_sql, {target});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return Error{std::string(action) + ": the record vanished"};
    const auto& r = rows->front();
    standing = {target, AsText(r[0]), AsInt(r[1])};
    return Status::Ok();
  });
  if (!st.ok()) return Error{st.message()};
  return standing;
}

Result<Decision> ReviewStore::AckAlert(const std::string& alert_id, const Actor& actor,
                                       int64_t now_ns) {
  return Decide(
      "INSERT INTO alert_acks (alert_id, acked_by, acked_ns) VALUES ($1,$2,$3) "
      "ON CONFLICT (alert_id) DO NOTHING",
      "SELECT acked_by, acked_ns FROM alert_acks WHERE alert_id = $1", "alert-acknowledged",
      alert_id, actor, now_ns);
}

Result<Decision> ReviewStore::MarkRotated(const std::string& fingerprint, const Actor& actor,
                                          int64_t now_ns) {
  return Decide(
      "INSERT INTO credential_rotations (fingerprint, rotated_by, rotated_ns) VALUES ($1,$2,$3) "
      "ON CONFLICT (fingerprint) DO NOTHING",
      kRotationSql, "credential-rotated", fingerprint, actor, now_ns);
}

Result<std::optional<Decision>> ReviewStore::Rotation(const std::string& fingerprint) {
  auto rows = db_.Query(kRotationSql, {fingerprint});
  if (!rows.ok()) return rows.error();
  if (rows->empty()) return std::optional<Decision>{};
  return std::optional<Decision>{
      Decision{fingerprint, AsText(rows->front()[0]), AsInt(rows->front()[1])}};
}

Result<std::vector<AuditEntry>> ReviewStore::Audit(int64_t limit) {
  auto rows = db_.Query(
      "SELECT at_ns, actor, action, target, collector, client FROM audit_log "
      "ORDER BY at_ns DESC LIMIT $1",
      {std::clamp<int64_t>(limit, 1, kMaxAuditRows)});
  if (!rows.ok()) return rows.error();
  std::vector<AuditEntry> out;
  for (const auto& r : *rows) {
    out.push_back({AsInt(r[0]), AsText(r[1]), AsText(r[2]), AsText(r[3]), AsText(r[4]),
                   AsText(r[5])});
  }
  return out;
}

Result<std::vector<CredentialSummary>> ReviewStore::Credentials(const std::string& fingerprint) {
  // Fleet alerts repeat a fingerprint the agents' alerts already carry: they do not count as
  // the credential leaving a host.
  auto sent = db_.Query(
      "SELECT fingerprint, MIN(time_ns), MAX(time_ns), COUNT(*), COUNT(DISTINCT host), "
      "MIN(secret_type), MIN(provider) FROM alerts WHERE fingerprint <> '' AND "
      "($1 = '' OR fingerprint = $1) AND kind NOT LIKE 'fleet-%' GROUP BY fingerprint "
      "ORDER BY MAX(time_ns) DESC LIMIT $2",
      {fingerprint, kMaxCredentials});
  if (!sent.ok()) return sent.error();
  auto stored = db_.Query(
      "SELECT fingerprint, COUNT(DISTINCT host), MIN(type), MIN(provider), MIN(redacted) "
      "FROM inventory WHERE ($1 = '' OR fingerprint = $1) GROUP BY fingerprint "
      "ORDER BY fingerprint LIMIT $2",
      {fingerprint, kMaxCredentials});
  if (!stored.ok()) return stored.error();
  std::vector<CredentialSummary> out;
  std::map<std::string, size_t> at;
  for (const auto& r : *sent) {
    at[AsText(r[0])] = out.size();
    CredentialSummary& c = out.emplace_back();
    c.fingerprint = AsText(r[0]);
    c.first_seen_ns = AsInt(r[1]);
    c.last_seen_ns = AsInt(r[2]);
    c.alerts = AsInt(r[3]);
    c.sending_hosts = AsInt(r[4]);
    c.type = AsText(r[5]);
    c.provider = AsText(r[6]);
  }
  for (const auto& r : *stored) {
    auto it = at.find(AsText(r[0]));
    if (it == at.end()) {
      if (out.size() >= static_cast<size_t>(kMaxCredentials)) continue;
      it = at.emplace(AsText(r[0]), out.size()).first;
      out.emplace_back().fingerprint = AsText(r[0]);
    }
    CredentialSummary& c = out[it->second];
    c.storing_hosts = AsInt(r[1]);
    if (c.type.empty()) c.type = AsText(r[2]);
    if (c.provider.empty()) c.provider = AsText(r[3]);
    c.redacted = AsText(r[4]);
  }
  // Rotations are few (one per person's click), so all of them are read at once.
  auto rotations = db_.Query(
      "SELECT fingerprint, rotated_by, rotated_ns FROM credential_rotations "
      "WHERE ($1 = '' OR fingerprint = $1) ORDER BY rotated_ns DESC LIMIT $2",
      {fingerprint, kMaxCredentials * 10});
  if (!rotations.ok()) return rotations.error();
  for (const auto& r : *rotations) {
    if (auto it = at.find(AsText(r[0])); it != at.end() && it->second < out.size()) {
      out[it->second].rotated = Decision{AsText(r[0]), AsText(r[1]), AsInt(r[2])};
    }
  }
  return out;
}

}  // namespace credsentry::collector
