// Fleet correlation on a real store: each correlation raises exactly one collector alert.
#include "correlate/fleet_correlator.h"

#include <gtest/gtest.h>

#include "test_support.h"

namespace credsentry::collector {
namespace {

using testing::MakeAlert;

class CorrelatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = AlertStore::Open(dir_ / "c.db");
    ASSERT_TRUE(s.ok());
    store_ = std::move(*s);
    CorrelationOptions opts;
    opts.shared_host_threshold = 3;
    opts.heartbeat_timeout_ns = 60'000'000'000;
    correlator_ = std::make_unique<FleetCorrelator>(
        *store_, opts, [this](const v1::Alert& a) { raised_.push_back(a); });
  }
  void Store(const std::string& host, const std::string& fp) {
    v1::Inventory inv;
    inv.set_host(host);
    auto* c = inv.add_credentials();
    c->set_path("/root/.config/anthropic/key");
    c->set_type("anthropic-api-key");
    c->set_redacted("sk-ant-…AA");
    c->set_fingerprint(fp);
    ASSERT_TRUE(store_->PutInventory(inv, NowNs()).ok());
    correlator_->OnInventory(inv);
  }
  testing::TempDir dir_;
  std::unique_ptr<AlertStore> store_;
  std::unique_ptr<FleetCorrelator> correlator_;
  std::vector<v1::Alert> raised_;
};

TEST_F(CorrelatorTest, EgressFromHostWhereKeyWasNeverStored) {
  Store("build-1", "hmac-sha256:k1");
  correlator_->OnFreshAlert(MakeAlert("e1", "build-1", "hmac-sha256:k1"));  // stored there: fine
  EXPECT_TRUE(raised_.empty());
  correlator_->OnFreshAlert(MakeAlert("e2", "gpu-7", "hmac-sha256:k1"));
  ASSERT_EQ(raised_.size(), 1u);
  EXPECT_EQ(raised_[0].kind(), "fleet-egress-unstored");
  EXPECT_EQ(raised_[0].host(), "gpu-7");
  EXPECT_EQ(raised_[0].severity(), v1::SEVERITY_CRITICAL);
  // A second egress of the same key from the same host does not raise again.
  correlator_->OnFreshAlert(MakeAlert("e3", "gpu-7", "hmac-sha256:k1"));
  EXPECT_EQ(raised_.size(), 1u);
  AlertFilter f;
  f.kind = "fleet-egress-unstored";
  EXPECT_EQ(store_->QueryAlerts(f)->size(), 1u);
}

TEST_F(CorrelatorTest, UnknownFingerprintIsNotCorrelated) {
  correlator_->OnFreshAlert(MakeAlert("e1", "gpu-7", "hmac-sha256:nobody-has-it"));
  EXPECT_TRUE(raised_.empty());
}

TEST_F(CorrelatorTest, KeyStoredOnManyHostsRaisesOnceAtThreshold) {
  Store("h1", "hmac-sha256:org");
  Store("h2", "hmac-sha256:org");
  EXPECT_TRUE(raised_.empty());
  Store("h3", "hmac-sha256:org");
  ASSERT_EQ(raised_.size(), 1u);
  EXPECT_EQ(raised_[0].kind(), "fleet-shared-credential");
  EXPECT_NE(raised_[0].summary().find("stored on 3 hosts"), std::string::npos);
  Store("h4", "hmac-sha256:org");
  EXPECT_EQ(raised_.size(), 1u);
}

TEST_F(CorrelatorTest, SilentAgentRaisesOnceUntilItSpeaksAgain) {
  v1::Heartbeat hb;
  hb.set_host("runner-9");
  const int64_t t0 = 1'000'000'000'000;
  ASSERT_TRUE(store_->PutHeartbeat(hb, t0).ok());
  correlator_->SweepSilentHosts(t0 + 30'000'000'000);
  EXPECT_TRUE(raised_.empty());
  correlator_->SweepSilentHosts(t0 + 61'000'000'000);
  ASSERT_EQ(raised_.size(), 1u);
  EXPECT_EQ(raised_[0].kind(), "fleet-agent-silent");
  EXPECT_EQ(raised_[0].host(), "runner-9");
  correlator_->SweepSilentHosts(t0 + 120'000'000'000);
  EXPECT_EQ(raised_.size(), 1u);
  // It comes back, then stops again: a new alert.
  ASSERT_TRUE(store_->PutHeartbeat(hb, t0 + 200'000'000'000).ok());
  correlator_->SweepSilentHosts(t0 + 300'000'000'000);
  EXPECT_EQ(raised_.size(), 2u);
}

}  // namespace
}  // namespace credsentry::collector
