// What the collector keeps: alerts (deduplicated by id: the UNIQUE key that makes agent resends
// idempotent), hosts with their last heartbeat, and each host's credential inventory. One SQL
// text for both backends; the schema is versioned and migrated at open.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "credsentry/v1/collector.pb.h"
#include "store/database.h"

namespace credsentry::collector {

struct IngestOutcome {
  std::vector<std::string> acked;            // stored now or before
  uint32_t duplicates = 0;                   // acked ids that were already stored
  std::vector<v1::RejectedAlert> rejected;   // malformed, never stored
  std::vector<const v1::Alert*> fresh;       // stored by this call (for forwarding, correlation)
};

struct AlertFilter {
  int64_t since_ns = 0;  // alert time >= since_ns
  int64_t until_ns = 0;  // alert time < until_ns; 0: no bound
  std::string host, kind, fingerprint, provider;
  int64_t min_severity = 0;  // v1::Severity value
  int64_t limit = 1000;
  bool newest_first = false;
  // Paging back (newest_first): only alerts before (before_time_ns, before_id). 0: no bound.
  int64_t before_time_ns = 0;
  std::string before_id;
  // Polling: only alerts received after (after_received_ns, after_id). -1: no bound.
  int64_t after_received_ns = -1;
  std::string after_id;
};

struct StoredAlert {
  std::string id, host, kind, summary, fingerprint, dest_host, body_json;
  int64_t time_ns = 0, received_ns = 0, severity = 0;
  std::string acked_by;  // the console's acknowledgement: "" and 0 when not acknowledged
  int64_t acked_ns = 0;
};

struct HostStatus {
  std::string host, agent_version, rules_version, counters_json;
  int64_t first_seen_ns = 0, last_heartbeat_ns = 0, silent_alerted_ns = 0;
};

struct InventoryEntry {
  std::string host, path, type, provider, fingerprint, redacted;
  int64_t owner_uid = 0, file_mtime_ns = 0, reported_ns = 0;
};

struct EgressSummary {  // which hosts sent a fingerprint where
  std::string host, dest_host;
  int64_t alerts = 0, last_ns = 0;
};

// Rejects what must never be stored: empty or oversized ids and hosts.
Status ValidateAlert(const v1::Alert& alert);

class AlertStore {
 public:
  static Result<std::unique_ptr<AlertStore>> Open(const std::string& url);
  explicit AlertStore(std::unique_ptr<Database> db) : db_(std::move(db)) {}

  Status Migrate();
  int SchemaVersion();

  // One transaction per batch: either every acked id is durable, or the call fails and the
  // agent resends the whole batch (dedup makes that harmless).
  Result<IngestOutcome> PutAlerts(const v1::AlertBatch& batch, int64_t received_ns,
                                  const std::string& collector_id);
  // Group commit: many agents' batches in ONE transaction, one outcome per batch (same order).
  // All or nothing, as for one batch. `bodies`, when given, holds each alert's EncodeAlertBody
  // in batch order (computed by the caller off the writer thread); otherwise it is computed here.
  Result<std::vector<IngestOutcome>> PutAlertGroup(
      const std::vector<const v1::AlertBatch*>& batches, int64_t received_ns,
      const std::string& collector_id,
      const std::vector<const std::vector<std::string>*>& bodies = {});
  // Stores one alert the collector itself raised (fleet correlation). False when already there.
  Result<bool> PutCollectorAlert(const v1::Alert& alert, int64_t received_ns);
  Status PutHeartbeat(const v1::Heartbeat& hb, int64_t received_ns);
  Status PutInventory(const v1::Inventory& inv, int64_t received_ns);

  Result<std::vector<StoredAlert>> QueryAlerts(const AlertFilter& filter);
  Result<std::optional<StoredAlert>> AlertById(const std::string& id);
  // (received_ns, id) of the alert stored last, the console's polling cursor; (0, "") if none.
  Result<std::pair<int64_t, std::string>> LatestReceived();
  Result<std::vector<HostStatus>> Hosts();
  Result<std::vector<InventoryEntry>> Inventory(const std::string& host,
                                                const std::string& fingerprint);
  Result<std::vector<EgressSummary>> Egress(const std::string& fingerprint);
  Result<int64_t> CountStoringHosts(const std::string& fingerprint);
  Result<bool> IsStoredOn(const std::string& fingerprint, const std::string& host);
  Status MarkSilentAlerted(const std::string& host, int64_t at_ns);

  Database& db() { return *db_; }

 private:
  Result<bool> InsertAlert(const v1::Alert& alert, int64_t received_ns,
                           const std::string& collector_id, std::string body);
  std::unique_ptr<Database> db_;
};

std::string AlertToJson(const v1::Alert& alert);
// How an alert is kept in the `body_pb` column: protobuf, base64 (text in both dialects).
std::string EncodeAlertBody(const v1::Alert& alert);
// The JSON a query shows for a row: `body_pb` rendered, or the v1 `body` JSON of older rows.
std::string StoredBodyToJson(const std::string& body_json, const std::string& body_pb);

}  // namespace credsentry::collector
