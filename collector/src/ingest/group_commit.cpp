#include "ingest/group_commit.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <future>

#include "ingest/collector_service.h"

namespace credsentry::collector {

GroupCommitter::GroupCommitter(AlertStore& store, std::string collector_id, GroupCommitOptions opts)
    : store_(store), collector_id_(std::move(collector_id)), opts_(opts) {
  writer_ = std::thread([this] { WriterLoop(); });
}

GroupCommitter::~GroupCommitter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  space_cv_.notify_all();
  writer_.join();
}

Status GroupCommitter::Submit(const v1::AlertBatch& batch, Completion done) {
  const size_t n = static_cast<size_t>(batch.alerts_size());
  // The stored body is encoded here, on the RPC thread, so the writer only writes.
  std::vector<std::string> bodies;
  bodies.reserve(n);
  for (const auto& alert : batch.alerts()) bodies.push_back(EncodeAlertBody(alert));

  std::unique_lock lock(mu_);
  // A batch larger than the whole queue is admitted alone, when the queue is empty.
  auto has_room = [&] {
    return stopping_ || queued_alerts_ == 0 || queued_alerts_ + n <= opts_.max_queued_alerts;
  };
  if (!space_cv_.wait_for(lock, std::chrono::milliseconds(opts_.enqueue_timeout_ms), has_room)) {
    ++overload_refused_;
    return Error{"collector overloaded: " + std::to_string(queued_alerts_) +
                 " alerts waiting for the database"};
  }
  if (stopping_) return Error{"collector stopping"};
  queue_.push_back({&batch, std::move(bodies), std::move(done)});
  queued_alerts_ += n;
  lock.unlock();
  work_cv_.notify_one();
  return Status::Ok();
}

Result<IngestOutcome> GroupCommitter::Store(const v1::AlertBatch& batch) {
  std::promise<Result<IngestOutcome>> promise;
  auto future = promise.get_future();
  if (auto st = Submit(batch, [&](Result<IngestOutcome> r) { promise.set_value(std::move(r)); });
      !st.ok()) {
    return Error{st.message()};
  }
  return future.get();
}

void GroupCommitter::WriterLoop() {
  while (true) {
    std::vector<Pending> group;
    size_t alerts = 0;
    {
      std::unique_lock lock(mu_);
      work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued is committed
      // Whole batches only: a batch is acknowledged all at once, so it commits all at once.
      while (!queue_.empty() && (group.empty() || alerts + queue_.front().batch->alerts_size() <=
                                                      opts_.max_group_alerts)) {
        alerts += queue_.front().batch->alerts_size();
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queued_alerts_ -= alerts;
    }
    space_cv_.notify_all();

    std::vector<const v1::AlertBatch*> batches;
    std::vector<const std::vector<std::string>*> bodies;
    batches.reserve(group.size());
    bodies.reserve(group.size());
    for (const auto& p : group) {
      batches.push_back(p.batch);
      bodies.push_back(&p.bodies);
    }
    const auto started = std::chrono::steady_clock::now();
    auto outcomes = store_.PutAlertGroup(batches, NowNs(), collector_id_, bodies);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
    {
      std::lock_guard lock(mu_);
      latency_.Observe(took.count());
      if (outcomes.ok()) {
        ++groups_;
        committed_alerts_ += alerts;
        largest_group_ = std::max<uint64_t>(largest_group_, alerts);
      } else {
        ++failed_groups_;
      }
    }
    for (size_t i = 0; i < group.size(); ++i) {
      if (outcomes.ok()) {
        group[i].done(std::move((*outcomes)[i]));
      } else {
        group[i].done(outcomes.error());
      }
    }
  }
}

std::map<std::string, uint64_t> GroupCommitter::Counters() const {
  std::lock_guard lock(mu_);
  return {{"commit_groups", groups_},
          {"commit_groups_failed", failed_groups_},
          {"commit_alerts", committed_alerts_},
          {"commit_largest_group", largest_group_},
          {"commit_overload_refused", overload_refused_},
          {"commit_queued_alerts", queued_alerts_}};
}

metrics::HistogramCounts GroupCommitter::CommitLatencies() const {
  std::lock_guard lock(mu_);
  return latency_.Counts();
}

}  // namespace credsentry::collector
