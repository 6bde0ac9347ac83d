// Group commit: RPC handlers hand their alert batches to a bounded queue; one writer thread
// drains everything queued into ONE transaction and then completes every waiting batch. A commit
// (an fsync in WAL mode, a round trip and WAL flush in PostgreSQL) costs the same for 20 alerts
// as for 20,000, so under load the per-alert cost falls with the number of agents sending.
// Nothing is acknowledged before its transaction commits: an ack always means durable.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "ingest/commit_latency.h"
#include "store/alert_store.h"

namespace credsentry::collector {

struct GroupCommitOptions {
  // Bound on alerts waiting for the writer; a batch that does not fit waits up to
  // `enqueue_timeout_ms` for room, then is refused as overload (the agent keeps it spooled).
  size_t max_queued_alerts = 100'000;
  // Bound on one transaction, so one commit's latency stays bounded under a burst.
  size_t max_group_alerts = 20'000;
  uint32_t enqueue_timeout_ms = 5'000;
};

class GroupCommitter {
 public:
  // Called on the writer thread once the batch's transaction has committed (or failed). The
  // batch (and the alert pointers in the outcome) stay valid until it returns.
  using Completion = std::function<void(Result<IngestOutcome>)>;

  GroupCommitter(AlertStore& store, std::string collector_id, GroupCommitOptions opts = {});
  ~GroupCommitter();  // commits what is queued, then stops
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Queues `batch` (which must outlive the completion) and returns at once; `done` runs later on
  // the writer thread. An error here (overload, stopping) means `done` never runs.
  Status Submit(const v1::AlertBatch& batch, Completion done);
  // Submit and wait: the unary RPC path.
  Result<IngestOutcome> Store(const v1::AlertBatch& batch);

  // groups_committed, alerts_committed, largest_group, overload_refused, ...
  std::map<std::string, uint64_t> Counters() const;
  // Every group's transaction, committed or failed, in seconds.
  metrics::HistogramCounts CommitLatencies() const;

 private:
  struct Pending {
    const v1::AlertBatch* batch;
    std::vector<std::string> bodies;  // EncodeAlertBody, made on the submitting thread
    Completion done;
  };
  void WriterLoop();

  AlertStore& store_;
  const std::string collector_id_;
  const GroupCommitOptions opts_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;   // writer waits for batches
  std::condition_variable space_cv_;  // submitters wait for room
  std::deque<Pending> queue_;
  size_t queued_alerts_ = 0;
  bool stopping_ = false;
  uint64_t groups_ = 0, committed_alerts_ = 0, failed_groups_ = 0, largest_group_ = 0,
           overload_refused_ = 0;
  CommitLatency latency_;
  std::thread writer_;  // last: starts after every member above exists
};

}  // namespace credsentry::collector
