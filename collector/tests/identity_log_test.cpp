// The log-once table for refused identity claims is bounded per certificate: one certificate
// claiming thousands of hosts fills only its own share, another certificate's first mismatch
// is still logged and raised, and what the table keeps out is counted.
#include <gtest/gtest.h>

#include "ingest/collector_service.h"
#include "test_support.h"

namespace credsentry::testing {
namespace {

using collector::CollectorService;
using collector::PeerIdentity;

struct MismatchRecorder : collector::IngestObserver {
  void OnFreshAlert(const v1::Alert&) override {}
  void OnIdentityMismatch(const std::string& identity, const std::string& host,
                          std::string_view) override {
    ++by_identity[identity];
  }
  std::map<std::string, int> by_identity;
};

grpc::Status Claim(CollectorService& service, const std::string& cert, const std::string& host) {
  PeerIdentity peer{.has_certificate = true, .dns_names = {cert}};
  v1::AlertBatch batch;
  batch.set_agent_host(host);
  *batch.add_alerts() = MakeAlert("id-" + host, host);
  v1::AlertAck ack;
  grpc::Status out;
  service.Ingest(peer, batch, &ack, [&](grpc::Status st) { out = st; });
  return out;
}

TEST(IdentityMismatchLog, ANoisyCertificateCannotUseUpTheLogForOthers) {
  TempDir dir;
  auto store = collector::AlertStore::Open(dir / "c.db");
  ASSERT_TRUE(store.ok()) << store.message();
  CollectorService service(**store, "test", {.group_commit = false});
  MismatchRecorder seen;
  service.AddObserver(&seen);
  for (int i = 0; i < 2000; ++i) {
    ASSERT_EQ(Claim(service, "noisy", "victim-" + std::to_string(i)).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  Claim(service, "noisy", "victim-0");  // a pair already logged is not logged again
  int noisy_logged = seen.by_identity["noisy"];
  EXPECT_GT(noisy_logged, 0);
  EXPECT_LT(noisy_logged, 100);
  auto c = service.Counters();
  EXPECT_EQ(c["identity_mismatches_not_logged"], 2000u - noisy_logged);
  EXPECT_EQ(c["identity_rejected_alerts"], 2001u);

  Claim(service, "runner-1", "runner-2");
  EXPECT_EQ(seen.by_identity["runner-1"], 1);

  // Many certificates: the number of them remembered is bounded too, and the rest counted.
  for (int i = 0; i < 5000; ++i) Claim(service, "cert-" + std::to_string(i), "h");
  size_t logged = 0;
  for (const auto& [identity, n] : seen.by_identity) logged += identity.starts_with("cert-");
  EXPECT_LT(logged, 5000u);
  EXPECT_EQ(service.Counters()["identity_mismatches_not_logged"],
            2000u - noisy_logged + 5000u - logged);
}

TEST(IdentityMismatchLog, EachForeignAlertInABatchIsCheckedOnce) {
  TempDir dir;
  auto store = collector::AlertStore::Open(dir / "c.db");
  ASSERT_TRUE(store.ok()) << store.message();
  CollectorService service(**store, "test", {.group_commit = false});
  for (int i = 0; i < 100; ++i) Claim(service, "runner-1", "other-" + std::to_string(i));
  uint64_t before = service.Counters()["identity_mismatches_not_logged"];
  // runner-1's share of the log is full: one more foreign host is one refusal not logged.
  PeerIdentity peer{.has_certificate = true, .dns_names = {"runner-1"}};
  v1::AlertBatch batch;
  batch.set_agent_host("runner-1");
  *batch.add_alerts() = MakeAlert("own-1", "runner-1");
  *batch.add_alerts() = MakeAlert("foreign-1", "someone-else");
  v1::AlertAck ack;
  grpc::Status st;
  service.Ingest(peer, batch, &ack, [&](grpc::Status s) { st = s; });
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(ack.rejected_size(), 1);
  EXPECT_EQ(ack.rejected(0).id(), "foreign-1");
  EXPECT_EQ(ack.acked_ids_size(), 1);
  EXPECT_EQ(service.Counters()["identity_mismatches_not_logged"], before + 1);
}

}  // namespace
}  // namespace credsentry::testing
