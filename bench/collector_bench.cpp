// Collector ingest from many simulated agents over loopback gRPC + mTLS (issue 6, Performance):
// sustained alerts/s and p50/p99 acknowledgement latency, SQLite and optionally PostgreSQL
// side by side. It starts the real credsentry-collector binary and a throw-away test PKI.
//
//   collector_bench [--agents 1000] [--batch 20] [--seconds 10] [--threads 64]
//                   [--collector-bin PATH] [--postgres postgres://...]
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "credsentry/v1/collector.grpc.pb.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace credsentry;

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Collector {
  pid_t pid = -1;
  std::string address;
  ~Collector() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
};

bool StartCollector(const std::string& bin, const std::string& db, const std::string& pki,
                    const std::string& work, Collector* c) {
  std::string port_file = work + "/port";
  fs::remove(port_file);
  fflush(stdout);  // or the child flushes our buffered lines a second time
  c->pid = fork();
  if (c->pid == 0) {
    freopen((work + "/collector.log").c_str(), "a", stderr);
    freopen((work + "/collector.log").c_str(), "a", stdout);
    execl(bin.c_str(), bin.c_str(), "serve", "--listen", "127.0.0.1:0", "--db", db.c_str(),
          "--ca", (pki + "/ca.pem").c_str(), "--cert", (pki + "/server.pem").c_str(), "--key",
          (pki + "/server.key").c_str(), "--port-file", port_file.c_str(), "--log-level", "warn",
          nullptr);
    _exit(127);
  }
  for (int i = 0; i < 200; ++i) {
    std::ifstream in(port_file);
    int port;
    if (in >> port) {
      c->address = "127.0.0.1:" + std::to_string(port);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

struct Result {
  uint64_t alerts = 0, failures = 0;
  double seconds = 0, p50_ms = 0, p99_ms = 0;
};

Result Run(const std::string& address, const std::string& pki, int agents, int batch,
           int seconds, int threads, const std::string& tag) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFile(pki + "/ca.pem");
  ssl.pem_cert_chain = ReadFile(pki + "/client.pem");
  ssl.pem_private_key = ReadFile(pki + "/client.key");
  auto creds = grpc::SslCredentials(ssl);
  // One channel (one TCP + TLS connection) per simulated agent, as in a real fleet.
  std::vector<std::unique_ptr<v1::Collector::Stub>> stubs;
  for (int a = 0; a < agents; ++a) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stubs.push_back(v1::Collector::NewStub(grpc::CreateCustomChannel(address, creds, args)));
  }
  std::atomic<uint64_t> alerts{0}, failures{0};
  std::vector<std::vector<double>> latencies(threads);
  auto deadline = Clock::now() + std::chrono::seconds(seconds);
  auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      uint64_t seq = 0;
      for (int a = t; Clock::now() < deadline; a += threads) {
        if (a >= agents) a = t;
        v1::AlertBatch b;
        std::string host = "agent-" + std::to_string(a);
        b.set_agent_host(host);
        for (int i = 0; i < batch; ++i) {
          auto* al = b.add_alerts();
          al->set_id(tag + ":" + host + ":" + std::to_string(t) + ":" + std::to_string(seq++));
          al->set_time_ns(1);
          al->set_kind("secret-egress");
          al->set_severity(v1::SEVERITY_HIGH);
          al->set_host(host);
          al->set_summary("bench alert");
          al->mutable_secret()->set_redacted("sk-ant-…AA");
          al->mutable_secret()->set_fingerprint("hmac-sha256:bench");
          al->mutable_destination()->set_host("paste.example");
        }
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        v1::AlertAck ack;
        auto t0 = Clock::now();
        auto st = stubs[a]->SendAlerts(&ctx, b, &ack);
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (st.ok() && ack.acked_ids_size() == batch) {
          alerts += batch;
          latencies[t].push_back(ms);
        } else {
          ++failures;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  Result r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.alerts = alerts;
  r.failures = failures;
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  if (!all.empty()) {
    r.p50_ms = all[all.size() / 2];
    r.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> flags = {
      {"agents", "1000"}, {"batch", "20"}, {"seconds", "10"}, {"threads", "64"},
      {"collector-bin", (fs::path(argv[0]).parent_path() / "../collector/credsentry-collector")
                            .lexically_normal()
                            .string()},
      {"pki-script", (fs::path(__FILE__).parent_path() / "../tests/collector/make-test-pki.sh")
                         .lexically_normal()
                         .string()},
      {"postgres", ""}};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string name = std::string(argv[i]).substr(2);
    if (!flags.count(name)) {
      fprintf(stderr, "collector_bench: unknown flag %s\n", argv[i]);
      return 2;
    }
    flags[name] = argv[i + 1];
  }
  char tmpl[] = "/tmp/collector-bench-XXXXXX";
  std::string work = mkdtemp(tmpl);
  std::string pki = work + "/pki";
  if (system((flags["pki-script"] + " " + pki + " >/dev/null").c_str()) != 0) {
    fprintf(stderr, "collector_bench: cannot make a test PKI with %s\n",
            flags["pki-script"].c_str());
    return 1;
  }
  std::vector<std::pair<std::string, std::string>> stores = {{"sqlite", work + "/bench.db"}};
  if (!flags["postgres"].empty()) stores.push_back({"postgres", flags["postgres"]});

  int agents = std::stoi(flags["agents"]), batch = std::stoi(flags["batch"]);
  int seconds = std::stoi(flags["seconds"]), threads = std::stoi(flags["threads"]);
  printf("collector ingest: %d agents (one mTLS connection each), %d alerts per batch, %d s, "
         "%d client threads, loopback\n",
         agents, batch, seconds, threads);
  printf("%-10s %12s %10s %10s %10s\n", "store", "alerts/s", "p50 ms", "p99 ms", "failures");
  int rc = 0;
  for (const auto& [name, db] : stores) {
    Collector c;
    if (!StartCollector(flags["collector-bin"], db, pki, work, &c)) {
      fprintf(stderr, "collector_bench: %s collector did not start:\n%s\n", name.c_str(),
              ReadFile(work + "/collector.log").c_str());
      rc = 1;
      continue;
    }
    auto r = Run(c.address, pki, agents, batch, seconds, threads, name + std::to_string(getpid()));
    printf("%-10s %12.0f %10.2f %10.2f %10llu\n", name.c_str(), r.alerts / r.seconds, r.p50_ms,
           r.p99_ms, static_cast<unsigned long long>(r.failures));
  }
  printf("target: >= 20000 alerts/s with SQLite\n");
  fs::remove_all(work);
  return rc;
}
