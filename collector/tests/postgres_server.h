// A throw-away PostgreSQL server from Debian's postgresql-15, started on 127.0.0.1 in a temp dir
// (initdb/pg_ctl as the postgres user, trust auth, fsync off) and stopped when this goes. Shared
// by the collector tests and bench/collector_bench.cpp; self-contained for that reason.
#pragma once

#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace credsentry::testing {

namespace pg_detail {
inline std::string Run(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}
inline std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace pg_detail

inline constexpr const char* kPgBin = "/usr/lib/postgresql/15/bin";

inline int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

class PostgresServer {
 public:
  static bool Installed() {
    return getpwnam("postgres") && access((std::string(kPgBin) + "/initdb").c_str(), X_OK) == 0;
  }
  // Empty string when it could not start; `why` says what failed.
  std::string Start(const std::string& dir, std::string* why) {
    passwd* pg = getpwnam("postgres");
    dir_ = dir;
    std::filesystem::create_directories(dir_);
    // The postgres user must be able to walk into our private temp dir.
    chmod(std::filesystem::path(dir_).parent_path().c_str(), 0711);
    chown(dir_.c_str(), pg->pw_uid, pg->pw_gid);
    chmod(dir_.c_str(), 0700);
    port_ = FreePort();
    auto as_pg = [&](const std::string& cmd) {
      return pg_detail::Run("runuser -u postgres -- " + cmd + "; echo rc=$?");
    };
    std::string out = as_pg(std::string(kPgBin) + "/initdb -D " + dir_ +
                            "/data -A trust -U postgres --no-sync -E UTF8 2>&1 >/dev/null");
    if (out.find("rc=0") == std::string::npos) {
      *why = "initdb failed: " + out;
      return "";
    }
    out = as_pg(std::string(kPgBin) + "/pg_ctl -D " + dir_ + "/data -l " + dir_ +
                "/pg.log -w -o \"-p " + std::to_string(port_) + " -k " + dir_ +
                " -h 127.0.0.1 -c fsync=off\" start >/dev/null");
    if (out.find("rc=0") == std::string::npos) {
      *why = "pg_ctl start failed: " + out + pg_detail::Slurp(dir_ + "/pg.log");
      return "";
    }
    started_ = true;
    out = as_pg(std::string(kPgBin) + "/createdb -h 127.0.0.1 -p " + std::to_string(port_) +
                " credsentry");
    if (out.find("rc=0") == std::string::npos) {
      *why = "createdb failed: " + out;
      return "";
    }
    return "postgres://postgres@127.0.0.1:" + std::to_string(port_) + "/credsentry";
  }
  ~PostgresServer() {
    if (started_) {
      pg_detail::Run("runuser -u postgres -- " + std::string(kPgBin) + "/pg_ctl -D " + dir_ +
                     "/data -m immediate -w stop");
    }
  }

 private:
  std::string dir_;
  int port_ = 0;
  bool started_ = false;
};

}  // namespace credsentry::testing
