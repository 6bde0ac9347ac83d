// Collector ingest from many simulated agents over loopback gRPC + mTLS (issue 6, Performance):
// sustained alerts/s and p50/p99 acknowledgement latency, SQLite and PostgreSQL side by side,
// each in three modes in one run:
//   per-batch  unary SendAlerts, one transaction per RPC batch (the path before group commit)
//   group      unary SendAlerts, group commit (many agents' batches in one transaction)
//   stream     StreamAlerts (what agents use), group commit
// It starts the real credsentry-collector binary, a throw-away test PKI and, with
// `--postgres auto` (the default, needs root and postgresql-15), a throw-away PostgreSQL server
// on 127.0.0.1 (collector/tests/postgres_server.h, the one the collector tests use).
//
//   collector_bench [--agents 1000] [--batch 20] [--seconds 10] [--threads 64]
//                   [--modes per-batch,group,stream] [--collector-bin PATH]
//                   [--postgres auto|none|postgres://...]
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
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../collector/tests/postgres_server.h"
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
                    const std::string& work, const std::string& commit, Collector* c) {
  std::string port_file = work + "/port";
  fs::remove(port_file);
  fflush(stdout);  // or the child flushes our buffered lines a second time
  c->pid = fork();
  if (c->pid == 0) {
    freopen((work + "/collector.log").c_str(), "a", stderr);
    freopen((work + "/collector.log").c_str(), "a", stdout);
    execl(bin.c_str(), bin.c_str(), "serve", "--listen", "127.0.0.1:0", "--db", db.c_str(), "--ca",
          (pki + "/ca.pem").c_str(), "--cert", (pki + "/server.pem").c_str(), "--key",
          (pki + "/server.key").c_str(), "--port-file", port_file.c_str(), "--log-level", "warn",
          "--commit", commit.c_str(),
          // 1000 simulated hosts share one client certificate.
          "--allow-shared-identity", nullptr);
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

// CPU seconds (user + system) the process has used: the collector's cost per alert, which unlike
// alerts/s does not depend on what else the machine runs.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::stringstream rest(text.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
}

struct Result {
  uint64_t alerts = 0, failures = 0;
  double seconds = 0, p50_ms = 0, p99_ms = 0, collector_cpu_s = 0;
};

// One simulated agent's long-lived alert stream, used by one client thread only.
struct AgentStream {
  std::unique_ptr<grpc::ClientContext> ctx;
  std::unique_ptr<grpc::ClientReaderWriter<v1::AlertBatch, v1::AlertAck>> rw;
};

// Sends `b` and waits for its ack, over the agent's stream (opened on first use) or unary.
bool SendBatch(v1::Collector::Stub& stub, AgentStream* stream, const v1::AlertBatch& b,
               v1::AlertAck* ack) {
  if (!stream) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return stub.SendAlerts(&ctx, b, ack).ok();
  }
  if (!stream->rw) {
    stream->ctx = std::make_unique<grpc::ClientContext>();
    stream->rw = stub.StreamAlerts(stream->ctx.get());
  }
  if (stream->rw->Write(b) && stream->rw->Read(ack) && ack->batch_id() == b.batch_id()) {
    return true;
  }
  stream->ctx->TryCancel();
  (void)stream->rw->Finish();
  stream->rw.reset();
  return false;
}

Result Run(const std::string& address, const std::string& pki, int agents, int batch, int seconds,
           int threads, const std::string& tag, bool use_streams, pid_t collector_pid) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFile(pki + "/ca.pem");
  ssl.pem_cert_chain = ReadFile(pki + "/client.pem");
  ssl.pem_private_key = ReadFile(pki + "/client.key");
  auto creds = grpc::SslCredentials(ssl);
  // One channel (one TCP + TLS connection) per simulated agent, as in a real fleet.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<v1::Collector::Stub>> stubs;
  for (int a = 0; a < agents; ++a) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channels.push_back(grpc::CreateCustomChannel(address, creds, args));
    stubs.push_back(v1::Collector::NewStub(channels.back()));
  }
  // Connect every agent before the clock starts: a fleet's agents hold long-lived connections,
  // and the mTLS handshakes (about a millisecond of CPU each side) are not ingest.
  auto connect_start = Clock::now();
  std::atomic<int> connected{0};
  {
    std::vector<std::thread> connectors;
    for (int t = 0; t < threads; ++t) {
      connectors.emplace_back([&, t] {
        for (int a = t; a < agents; a += threads) {
          if (channels[a]->WaitForConnected(std::chrono::system_clock::now() +
                                            std::chrono::seconds(60))) {
            ++connected;
          }
        }
      });
    }
    for (auto& c : connectors) c.join();
  }
  fprintf(stderr, "  %d/%d agents connected in %.1f s\n", connected.load(), agents,
          std::chrono::duration<double>(Clock::now() - connect_start).count());
  std::vector<AgentStream> streams(agents);
  const double cpu_start = CpuSeconds(collector_pid);
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
        b.set_batch_id(seq);
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
        v1::AlertAck ack;
        auto t0 = Clock::now();
        bool ok = SendBatch(*stubs[a], use_streams ? &streams[a] : nullptr, b, &ack);
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        if (ok && ack.acked_ids_size() == batch) {
          alerts += batch;
          latencies[t].push_back(ms);
        } else {
          ++failures;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  for (auto& s : streams) {
    if (!s.rw) continue;
    s.rw->WritesDone();
    (void)s.rw->Finish();
  }
  Result r;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.collector_cpu_s = CpuSeconds(collector_pid) - cpu_start;
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
      {"agents", "1000"},
      {"batch", "20"},
      {"seconds", "10"},
      {"threads", "64"},
      {"collector-bin", (fs::path(argv[0]).parent_path() / "../collector/credsentry-collector")
                            .lexically_normal()
                            .string()},
      {"pki-script", (fs::path(__FILE__).parent_path() / "../tests/collector/make-test-pki.sh")
                         .lexically_normal()
                         .string()},
      {"postgres", "auto"},
      {"modes", "per-batch,group,stream"}};
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
  std::optional<testing::PostgresServer> pg;  // stopped before `work` is removed
  if (flags["postgres"] == "auto") {
    std::string why;
    std::string url;
    if (!testing::PostgresServer::Installed()) {
      why = "postgresql-15 is not installed";
    } else if (geteuid() != 0) {
      why = "starting a server needs root (runuser)";
    } else {
      url = pg.emplace().Start(work + "/pg", &why);
    }
    if (url.empty()) {
      printf("postgres: skipped (%s); pass --postgres postgres://... to use a running server\n",
             why.c_str());
    } else {
      stores.push_back({"postgres", url});
    }
  } else if (flags["postgres"] != "none") {
    stores.push_back({"postgres", flags["postgres"]});
  }

  std::vector<std::string> modes;
  std::stringstream mode_list(flags["modes"]);
  for (std::string m; std::getline(mode_list, m, ',');) {
    if (m != "per-batch" && m != "group" && m != "stream") {
      fprintf(stderr, "collector_bench: unknown mode '%s' (per-batch, group, stream)\n", m.c_str());
      return 2;
    }
    modes.push_back(m);
  }

  int agents = std::stoi(flags["agents"]), batch = std::stoi(flags["batch"]);
  int seconds = std::stoi(flags["seconds"]), threads = std::stoi(flags["threads"]);
  printf(
      "collector ingest: %d agents (one mTLS connection each), %d alerts per batch, %d s, "
      "%d client threads, loopback, %u cores\n",
      agents, batch, seconds, threads, std::thread::hardware_concurrency());
  printf("%-10s %-10s %12s %10s %10s %10s %14s\n", "store", "mode", "alerts/s", "p50 ms", "p99 ms",
         "failures", "collector CPU");
  printf("%-10s %-10s %12s %10s %10s %10s %14s\n", "", "", "", "", "", "", "us/alert");
  int rc = 0;
  for (const auto& [name, db] : stores) {
    for (const auto& mode : modes) {
      Collector c;
      std::string commit = mode == "per-batch" ? "per-batch" : "group";
      if (!StartCollector(flags["collector-bin"], db, pki, work, commit, &c)) {
        fprintf(stderr, "collector_bench: %s collector did not start:\n%s\n", name.c_str(),
                ReadFile(work + "/collector.log").c_str());
        rc = 1;
        continue;
      }
      auto r = Run(c.address, pki, agents, batch, seconds, threads,
                   name + mode + std::to_string(getpid()), mode == "stream", c.pid);
      double cpu_us = r.alerts ? r.collector_cpu_s * 1e6 / r.alerts : 0;
      printf("%-10s %-10s %12.0f %10.2f %10.2f %10llu %14.1f\n", name.c_str(), mode.c_str(),
             r.alerts / r.seconds, r.p50_ms, r.p99_ms, static_cast<unsigned long long>(r.failures),
             cpu_us);
      fflush(stdout);
    }
  }
  printf("target: >= 20000 alerts/s with SQLite\n");
  pg.reset();
  fs::remove_all(work);
  return rc;
}
