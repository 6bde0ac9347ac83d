// What people decide about alerts and credentials in the console: an alert acknowledged, a
// credential rotated, who did it (the console token's name) and when, and an audit log of every
// such action. Kept in the collector's database (tables of schema v3), so several collectors
// sharing one PostgreSQL see the same decisions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/database.h"

namespace credsentry::collector {

// An acknowledgement or a rotation: the first one recorded stands; later ones are audited only.
struct Decision {
  std::string target;  // alert id or fingerprint
  std::string by;      // console token name
  int64_t at_ns = 0;
};

struct AuditEntry {
  int64_t at_ns = 0;
  std::string actor, action, target, collector, client;
};

struct CredentialSummary {  // one fingerprint, across alerts and inventories
  std::string fingerprint, type, provider, redacted;
  int64_t first_seen_ns = 0, last_seen_ns = 0;  // alerts' times; 0 when it never left
  int64_t alerts = 0, sending_hosts = 0, storing_hosts = 0;
  std::optional<Decision> rotated;
};

// Who did it, from where, for the audit log.
struct Actor {
  std::string name;       // console token name
  std::string client;     // remote address
  std::string collector;  // this collector's --id
};

class ReviewStore {
 public:
  static constexpr int64_t kMaxAuditRows = 1000;
  static constexpr int64_t kMaxCredentials = 1000;

  explicit ReviewStore(Database& db) : db_(db) {}

  // Records the acknowledgement unless one exists and audits the action; returns the standing
  // acknowledgement. The caller checks that the alert exists.
  Result<Decision> AckAlert(const std::string& alert_id, const Actor& actor, int64_t now_ns);
  Result<Decision> MarkRotated(const std::string& fingerprint, const Actor& actor, int64_t now_ns);
  Result<std::optional<Decision>> Rotation(const std::string& fingerprint);

  // Newest first, at most `limit` (capped at kMaxAuditRows).
  Result<std::vector<AuditEntry>> Audit(int64_t limit);
  // Every fingerprint seen in an alert or an inventory, most recently sent first, at most
  // kMaxCredentials; `fingerprint` non-empty narrows it to one.
  Result<std::vector<CredentialSummary>> Credentials(const std::string& fingerprint = "");

 private:
  Result<Decision> Decide(const char* insert_sql, const char* select_sql, const char* action,
                          const std::string& target, const Actor& actor, int64_t now_ns);
  Database& db_;
};

}  // namespace credsentry::collector
