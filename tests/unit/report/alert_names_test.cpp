// The alert's enums as users read them: the words the README's alert contract names, the same
// in the JSON line and in the protobuf message.
#include "report/alert_names.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "credsentry/v1/alert.pb.h"
#include "report/alert_json.h"
#include "report/alert_proto.h"

namespace credsentry::report {
namespace {

TEST(AlertNames, EveryEnumHasItsContractSpelling) {
  EXPECT_EQ(NameSourceName(alert::NameSource::kSni), "sni");
  EXPECT_EQ(NameSourceName(alert::NameSource::kDns), "dns");
  EXPECT_EQ(NameSourceName(alert::NameSource::kIp), "ip");
  EXPECT_EQ(NameSourceName(alert::NameSource::kNone), "");
  EXPECT_EQ(TransportName(alert::Transport::kTls), "tls");
  EXPECT_EQ(TransportName(alert::Transport::kTcp), "tcp");
  EXPECT_EQ(TransportName(alert::Transport::kUdp), "udp");
  EXPECT_EQ(TransportName(alert::Transport::kUnknown), "");
  EXPECT_EQ(FoundInName(alert::FoundIn::kTlsWrite), "tls-write");
  EXPECT_EQ(FoundInName(alert::FoundIn::kSocketWrite), "socket-write");
  EXPECT_EQ(FoundInName(alert::FoundIn::kUringSend), "io-uring-send");
  EXPECT_EQ(FoundInName(alert::FoundIn::kUdpWrite), "udp-write");
  EXPECT_EQ(FoundInName(alert::FoundIn::kProvenance), "provenance");
  EXPECT_EQ(FoundInName(alert::FoundIn::kNone), "");
}

TEST(AlertNames, JsonAndProtobufWriteTheSameWords) {
  alert::Alert a;
  a.secret.found_in = alert::FoundIn::kUdpWrite;
  a.destination.transport = alert::Transport::kUdp;
  a.destination.name_source = alert::NameSource::kDns;
  auto j = nlohmann::json::parse(AlertToJsonLine(a));
  EXPECT_EQ(j["secret"]["found_in"], "udp-write");
  EXPECT_EQ(j["destination"]["transport"], "udp");
  EXPECT_EQ(j["destination"]["name_source"], "dns");
  v1::Alert m;
  ToProto(a, &m);
  EXPECT_EQ(m.secret().found_in(), "udp-write");
  EXPECT_EQ(m.destination().transport(), "udp");
  EXPECT_EQ(m.destination().name_source(), "dns");
}

// An alert with no destination (a process opening another's environment) writes empty words.
TEST(AlertNames, NoDestinationWritesEmptyWords) {
  auto j = nlohmann::json::parse(AlertToJsonLine(alert::Alert{}));
  EXPECT_EQ(j["secret"]["found_in"], "");
  EXPECT_EQ(j["destination"]["transport"], "");
  EXPECT_EQ(j["destination"]["name_source"], "");
}

}  // namespace
}  // namespace credsentry::report
