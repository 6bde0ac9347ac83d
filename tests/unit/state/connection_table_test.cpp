// Sockets found under /proc at start: the peer of an IPv6 (or dual-stack) socket reads as the
// kernel's own records write it, so a socket opened before the agent is named the same way.
#include "state/connection_table.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "../config/temp_dir.h"

namespace credsentry::state {
namespace {

constexpr const char* kHeader =
    "  sl  local_address                         remote_address                        st "
    "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

// One /proc/net/tcp6 row: each 32-bit word of an address in host (little-endian) order.
std::string Row(int sl, const std::string& remote, int inode) {
  return "   " + std::to_string(sl) + ": 00000000000000000000000001000000:9C40 " + remote +
         " 01 00000000:00000000 00:00000000 00000000     0        0 " + std::to_string(inode) +
         " 1 0000000000000000 20 4 30 10 -1\n";
}

TEST(ConnectionTableFromProc, Ipv6AndDualStackPeers) {
  credsentry::testing::TempDir proc;
  proc.Write("77/net/tcp6",
             std::string(kHeader) +
                 Row(0, "00000000000000000000000001000000:0050", 1001) +  // [::1]:80
                 Row(1, "C50000FD000000000000000001000000:01BB", 1002) +  // [fd00:c5::1]:443
                 Row(2, "0000000000000000FFFF00000100007F:1F90", 1003));  // ::ffff:127.0.0.1
  std::filesystem::create_directories(proc.path() + "/77/fd");
  for (int fd : {5, 6, 7}) {
    ASSERT_EQ(symlink(("socket:[" + std::to_string(996 + fd) + "]").c_str(),
                      (proc.path() + "/77/fd/" + std::to_string(fd)).c_str()),
              0);
  }
  auto scope = Scope::Create({}, proc.path());
  ASSERT_TRUE(scope.ok()) << scope.message();

  ConnectionTable table;
  auto found = table.LoadFromProc(*scope, {77});
  ASSERT_EQ(found.size(), 3u);
  const Connection* loopback = table.Find(77, 5);
  ASSERT_NE(loopback, nullptr);
  EXPECT_EQ(loopback->peer.ip, "::1");
  EXPECT_EQ(loopback->peer.port, 80);
  EXPECT_EQ(loopback->peer.family, AF_INET6);
  ASSERT_NE(table.Find(77, 6), nullptr);
  EXPECT_EQ(table.Find(77, 6)->peer.ip, "fd00:c5::1");
  EXPECT_EQ(table.Find(77, 6)->peer.port, 443);
  ASSERT_NE(table.Find(77, 7), nullptr);
  EXPECT_EQ(table.Find(77, 7)->peer.ip, "127.0.0.1");
  EXPECT_EQ(table.Find(77, 7)->peer.family, AF_INET);
  EXPECT_EQ(table.Find(77, 7)->peer.port, 8080);
}

}  // namespace
}  // namespace credsentry::state
