// Shared fixtures for collector tests: a temp dir, a throw-away PKI made with the openssl CLI,
// the real credsentry-collector as a child process on a loopback port, its query CLI, and
// synthetic secrets generated at run time (never real keys).
#pragma once

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "credsentry/v1/collector.grpc.pb.h"

namespace credsentry::testing {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "credsentry-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// True when `needle` occurs in any regular file under `root` (database, WAL, spool, logs).
inline bool TreeContains(const std::string& root, const std::string& needle) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); it != fs::end(it); it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file() && ReadFile(it->path()).find(needle) != std::string::npos) {
      return true;
    }
  }
  return false;
}

// A synthetic Anthropic-shaped key, random per run.
inline std::string SyntheticSecret() {
  static const char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::mt19937_64 rng(std::random_device{}());
  std::string s = "sk-ant-api03-";
  for (int i = 0; i < 93; ++i) s += kAlphabet[rng() % 62];
  return s + "AA";
}

// The test PKI (tests/collector/make-test-pki.sh) with one agent certificate per host in
// `hosts`, named AgentCert(host); run again on the same dir it adds certificates.
inline bool MakePki(const std::string& dir,
                    const std::vector<std::string>& hosts = {"runner-1", "runner-2",
                                                             "quiet-runner"}) {
  std::string cmd = std::string(TEST_PKI_SCRIPT) + " '" + dir + "'";
  for (const auto& h : hosts) cmd += " '" + h + "'";
  return system((cmd + " >/dev/null").c_str()) == 0;
}

// The certificate MakePki issued for `host`: the collector accepts it only for that host.
inline std::string AgentCert(const std::string& host) { return "agent-" + host; }

struct CliResult {
  int exit_code = -1;
  std::string out;
};

inline CliResult RunCollectorCli(const std::string& args) {
  CliResult r;
  std::string cmd = std::string(COLLECTOR_BIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

inline std::string RunCommand(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// A child process whose stdout we read line by line and which we can kill by its pid.
class Child {
 public:
  explicit Child(std::vector<std::string> argv) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      dup2(fds[1], 2);
      close(fds[0]);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(fds[1]);
    out_ = fdopen(fds[0], "r");
  }
  ~Child() {
    Kill(SIGKILL);
    if (out_) fclose(out_);
  }
  std::string ReadLine() {
    char line[1024];
    return out_ && fgets(line, sizeof line, out_) ? line : "";
  }
  std::string ReadAll() {
    std::string all;
    for (std::string l; !(l = ReadLine()).empty();) all += l;
    return all;
  }
  // Returns the exit code, or -1 when it died by a signal.
  int Wait() {
    if (pid_ <= 0) return -1;
    int st;
    waitpid(pid_, &st, 0);
    pid_ = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  void Kill(int sig) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    Wait();
  }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
};

inline std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);) {
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

// The real collector binary, serving on 127.0.0.1:<ephemeral>, logging to `log`.
class CollectorProcess {
 public:
  CollectorProcess(std::string db, std::string pki_dir, std::string log,
                   std::vector<std::string> extra = {}, int fixed_port = 0)
      : db_(std::move(db)), pki_(std::move(pki_dir)), log_(std::move(log)),
        extra_(std::move(extra)), port_(fixed_port) {}
  ~CollectorProcess() { Stop(); }

  // Starts and waits until the port is bound. Reuses the previous port on restart.
  bool Start() {
    std::string port_file = log_ + ".port";
    unlink(port_file.c_str());
    std::vector<std::string> args = {COLLECTOR_BIN, "serve", "--listen",
                                     "127.0.0.1:" + std::to_string(port_), "--db", db_,
                                     "--port-file", port_file};
    if (pki_.empty()) {
      args.push_back("--insecure");
    } else {
      for (auto [flag, file] : {std::pair{"--ca", "ca.pem"}, {"--cert", "server.pem"},
                                {"--key", "server.key"}}) {
        args.push_back(flag);
        args.push_back(pki_ + "/" + file);
      }
    }
    args.insert(args.end(), extra_.begin(), extra_.end());
    pid_ = fork();
    if (pid_ == 0) {
      int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      std::ifstream in(port_file);
      if (in >> port_) return true;
      int st;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  void Stop(int sig = SIGTERM) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    int st;
    waitpid(pid_, &st, 0);
    pid_ = -1;
  }

  void Signal(int sig) {
    if (pid_ > 0) kill(pid_, sig);
  }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  std::string db_, pki_, log_;
  std::vector<std::string> extra_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// A client stub with the given client certificate name under `pki` (AgentCert("runner-1"),
// "rogue-client"),
// or no client certificate at all when `cert` is empty.
inline std::unique_ptr<v1::Collector::Stub> MakeStub(const std::string& address,
                                                     const std::string& pki,
                                                     const std::string& cert) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFile(pki + "/ca.pem");
  if (!cert.empty()) {
    ssl.pem_cert_chain = ReadFile(pki + "/" + cert + ".pem");
    ssl.pem_private_key = ReadFile(pki + "/" + cert + ".key");
  }
  return v1::Collector::NewStub(grpc::CreateChannel(address, grpc::SslCredentials(ssl)));
}

inline v1::Alert MakeAlert(const std::string& id, const std::string& host,
                           const std::string& fingerprint = "hmac-sha256:00aa11bb",
                           v1::Severity severity = v1::SEVERITY_HIGH) {
  v1::Alert a;
  a.set_id(id);
  a.set_time_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count());
  a.set_kind("secret-egress");
  a.set_severity(severity);
  a.set_summary("anthropic key sent to paste.example");
  a.set_host(host);
  a.mutable_process()->set_pid(4242);
  a.mutable_process()->set_comm("curl");
  a.mutable_secret()->set_type("anthropic-api-key");
  a.mutable_secret()->set_provider("anthropic");
  a.mutable_secret()->set_redacted("sk-ant-…AA");
  a.mutable_secret()->set_fingerprint(fingerprint);
  a.mutable_secret()->set_found_in("tls-write");
  a.mutable_destination()->set_host("paste.example");
  a.mutable_destination()->set_ip("127.0.0.9");
  a.mutable_destination()->set_port(443);
  return a;
}

// An inventory of `host` holding one AWS credential (fingerprint hmac-sha256:aws1).
inline v1::Inventory MakeInventory(const std::string& host) {
  v1::Inventory inv;
  inv.set_host(host);
  auto* c = inv.add_credentials();
  c->set_path("/home/ci/.aws/credentials");
  c->set_type("aws-secret-key");
  c->set_redacted("wJal…KEY");
  c->set_fingerprint("hmac-sha256:aws1");
  return inv;
}

}  // namespace credsentry::testing
