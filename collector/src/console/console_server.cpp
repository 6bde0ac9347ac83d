#include "console/console_server.h"

#include <httplib.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "common/metrics_server.h"
#include "console/console_assets.h"

namespace credsentry::collector::console {
namespace {

constexpr size_t kWorkers = 4;
constexpr size_t kMaxWaiting = 32;  // accepted connections waiting for a worker
constexpr time_t kIoTimeoutS = 5;
constexpr size_t kMaxBodyBytes = 16 * 1024;  // the largest body is a login: a token
constexpr const char* kCookieName = "cs_session";
constexpr const char* kJson = "application/json; charset=utf-8";

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// cpp-httplib 0.11's own pool queues connections without bound. Here a full queue makes the
// accept thread serve the connection itself (bounded by the I/O timeouts), so more clients
// wait in the kernel's listen backlog instead of in our memory.
class ConsoleWorkers final : public httplib::TaskQueue {
 public:
  ConsoleWorkers() {
    for (size_t i = 0; i < kWorkers; ++i) threads_.emplace_back([this] { Run(); });
  }
  void enqueue(std::function<void()> job) override {
    std::unique_lock lock(mu_);
    if (stopping_ || waiting_.size() >= kMaxWaiting) {
      lock.unlock();
      job();
      return;
    }
    waiting_.push_back(std::move(job));
    wake_.notify_one();
  }
  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }

 private:
  void Run() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu_);
        wake_.wait(lock, [&] { return stopping_ || !waiting_.empty(); });
        if (waiting_.empty()) return;
        job = std::move(waiting_.front());
        waiting_.pop_front();
      }
      job();
    }
  }
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> waiting_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

void Reply(httplib::Response& res, const ApiReply& reply) {
  res.status = reply.status;
  res.set_content(reply.body, kJson);
}

// The session cookie's value from a Cookie header; "" when absent.
std::string SessionCookie(const httplib::Request& req) {
  const std::string header = req.get_header_value("Cookie");
  const std::string key = std::string(kCookieName) + "=";
  for (size_t pos = 0; pos < header.size();) {
    size_t end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    std::string part = header.substr(pos, end - pos);
    part.erase(0, part.find_first_not_of(' '));
    if (part.rfind(key, 0) == 0) return part.substr(key.size());
    pos = end + 1;
  }
  return {};
}

// What the page needs to act for a session: who, and the token its POSTs must carry.
std::string SessionJson(const Session& s) {
  return nlohmann::json{{"name", s.name}, {"csrf_token", s.csrf}, {"expires", Rfc3339(s.expires_ns)}}
      .dump();
}

QueryParams Params(const httplib::Request& req) {
  QueryParams out;
  for (const auto& [k, v] : req.params) out[k] = v;  // a repeated name keeps its last value
  return out;
}

}  // namespace

struct ConsoleServer::Impl {
  Impl(const ConsoleOptions& o, std::unique_ptr<AlertStore> s, ConsoleTokens t)
      : options(o),
        tokens(std::move(t)),
        store(std::move(s)),
        api(*store, o.api),
        server(o.cert_file.c_str(), o.key_file.c_str()) {}

  void Count(uint64_t ConsoleCounters::*field) {
    std::lock_guard lock(counters_mu);
    ++(counters.*field);
  }

  using Handler = std::function<void(const httplib::Request&, httplib::Response&, const Session&)>;
  // Wraps `handler` with the session check (401 without one) and, for state-changing
  // requests, the CSRF check (403 without the session's token).
  httplib::Server::Handler Authed(bool changes_state, Handler handler) {
    return [this, changes_state, handler = std::move(handler)](const httplib::Request& req,
                                                               httplib::Response& res) {
      std::string cookie = SessionCookie(req);
      std::optional<Session> session;
      if (!cookie.empty()) session = sessions.Find(cookie, NowNs());
      if (!session) {
        Count(&ConsoleCounters::console_requests_unauthenticated);
        return Reply(res, ErrorReply(401, "log in first (POST /api/v1/login)"));
      }
      if (changes_state && !SameSecret(req.get_header_value("X-CSRF-Token"), session->csrf)) {
        Count(&ConsoleCounters::console_requests_csrf_refused);
        return Reply(res, ErrorReply(403, "missing or wrong X-CSRF-Token header"));
      }
      handler(req, res, *session);
      if (res.status == 503) Count(&ConsoleCounters::console_store_errors);
    };
  }

  Actor ActorOf(const httplib::Request& req, const Session& s) const {
    return {s.name, req.remote_addr, options.collector_id};
  }

  void Login(const httplib::Request& req, httplib::Response& res) {
    const int64_t now = NowNs();
    if (!limiter.Allowed(req.remote_addr, now)) {
      Count(&ConsoleCounters::console_logins_rate_limited);
      res.set_header("Retry-After", "60");
      return Reply(res, ErrorReply(429, "too many failed logins from this address; wait a minute"));
    }
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    std::string token;
    if (body.is_object() && body.contains("token") && body["token"].is_string()) {
      token = body["token"].get<std::string>();
    }
    std::optional<std::string> name;
    if (!token.empty()) name = tokens.Match(token);
    if (!name) {
      limiter.Failed(req.remote_addr, now);
      Count(&ConsoleCounters::console_logins_failed);
      spdlog::warn("console: failed login from {}", req.remote_addr);
      return Reply(res, ErrorReply(401, token.empty() ? "a token is required"
                                                      : "this token is not valid"));
    }
    limiter.Succeeded(req.remote_addr);
    uint64_t evicted = 0;
    auto issued = sessions.Create(*name, now, &evicted);
    {
      std::lock_guard lock(counters_mu);
      ++counters.console_logins_ok;
      counters.console_sessions_evicted += evicted;
    }
    spdlog::info("console: '{}' logged in from {}", *name, req.remote_addr);
    res.set_header("Set-Cookie", std::string(kCookieName) + "=" + issued.cookie +
                                     "; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=" +
                                     std::to_string(SessionTable::kLifetimeNs / 1'000'000'000));
    Reply(res, {200, SessionJson(issued.session)});
  }

  void Routes() {
    httplib::Server& s = server;
    s.Post("/api/v1/login", [this](const auto& req, auto& res) { Login(req, res); });
    s.Get("/api/v1/session", Authed(false, [](const auto&, auto& res, const Session& session) {
            Reply(res, {200, SessionJson(session)});
          }));
    s.Post("/api/v1/logout", Authed(true, [this](const auto& req, auto& res, const Session&) {
             sessions.Remove(SessionCookie(req));
             res.set_header("Set-Cookie", std::string(kCookieName) +
                                              "=; Path=/; HttpOnly; Secure; SameSite=Strict; "
                                              "Max-Age=0");
             Reply(res, {200, R"({"logged_out":true})"});
           }));
    s.Get("/api/v1/alerts", Authed(false, [this](const auto& req, auto& res, const Session&) {
            Reply(res, api.Alerts(Params(req), NowNs()));
          }));
    s.Post(R"(/api/v1/alerts/(.+)/ack)",
           Authed(true, [this](const auto& req, auto& res, const Session& session) {
             Reply(res, api.Ack(req.matches[1], ActorOf(req, session), NowNs()));
           }));
    s.Get(R"(/api/v1/alerts/(.+))", Authed(false, [this](const auto& req, auto& res,
                                                          const Session&) {
            Reply(res, api.Alert(req.matches[1]));
          }));
    s.Get("/api/v1/hosts", Authed(false, [this](const auto&, auto& res, const Session&) {
            Reply(res, api.Hosts(NowNs()));
          }));
    s.Get("/api/v1/credentials", Authed(false, [this](const auto&, auto& res, const Session&) {
            Reply(res, api.Credentials());
          }));
    s.Post(R"(/api/v1/credentials/(.+)/rotated)",
           Authed(true, [this](const auto& req, auto& res, const Session& session) {
             Reply(res, api.Rotated(req.matches[1], ActorOf(req, session), NowNs()));
           }));
    s.Get(R"(/api/v1/credentials/(.+))", Authed(false, [this](const auto& req, auto& res,
                                                               const Session&) {
            Reply(res, api.Credential(req.matches[1]));
          }));
    s.Get("/api/v1/audit", Authed(false, [this](const auto& req, auto& res, const Session&) {
            Reply(res, api.Audit(Params(req)));
          }));
    // The static console: any other GET is an asset or 404.
    s.Get(R"(/.*)", [](const httplib::Request& req, httplib::Response& res) {
      if (req.path.rfind("/api/", 0) == 0) return Reply(res, ErrorReply(404, "no such endpoint"));
      const ConsoleAsset* asset = FindConsoleAsset(req.path);
      if (!asset) {
        res.status = 404;
        res.set_content("not found\n", "text/plain; charset=utf-8");
        return;
      }
      res.set_content(std::string(asset->body), std::string(asset->content_type).c_str());
    });
  }

  // Headers on every answer, errors included: the page may load only its own files, may not
  // be framed, and the browser must not guess content types; API answers are never cached.
  static void SecurityHeaders(const httplib::Request& req, httplib::Response& res) {
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                   "form-action 'self'");
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("X-Frame-Options", "DENY");
    res.set_header("Referrer-Policy", "no-referrer");
    res.set_header("Strict-Transport-Security", "max-age=31536000");
    res.set_header("Cache-Control", req.path.rfind("/api/", 0) == 0 ? "no-store" : "no-cache");
  }

  ConsoleOptions options;
  ConsoleTokens tokens;
  std::unique_ptr<AlertStore> store;  // the console's own connection
  ConsoleApi api;
  SessionTable sessions;
  LoginLimiter limiter;
  mutable std::mutex counters_mu;
  ConsoleCounters counters;
  httplib::SSLServer server;
  std::thread listener;
  int port = 0;
};

ConsoleServer::ConsoleServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ConsoleServer::~ConsoleServer() {
  impl_->server.stop();
  if (impl_->listener.joinable()) impl_->listener.join();
}

int ConsoleServer::port() const { return impl_->port; }

void ConsoleServer::AddCounters(CounterMap& out) const {
  std::lock_guard lock(impl_->counters_mu);
  ExportCounters(impl_->counters, "", out);
}

Result<std::unique_ptr<ConsoleServer>> ConsoleServer::Start(const ConsoleOptions& options,
                                                            const std::string& db_url) {
  if (options.token_file.empty()) {
    return Error{"--console-listen needs --console-token-file (NAME:TOKEN lines)"};
  }
  if (options.cert_file.empty() || options.key_file.empty()) {
    return Error{"--console-listen needs --cert and --key: the console serves HTTPS only"};
  }
  // Any host may be named: the console is for people on other machines, and it has TLS and a
  // login in front of it.
  auto endpoint = metrics::ParseMetricsListen(options.listen, true, "");
  if (!endpoint.ok()) return Error{"--console-listen " + endpoint.message()};
  auto tokens = ConsoleTokens::Load(options.token_file);
  if (!tokens.ok()) return Error{"--console-token-file: " + tokens.message()};

  auto store = AlertStore::Open(db_url);
  if (!store.ok()) return Error{"console: " + store.message()};
  auto impl = std::make_unique<Impl>(options, std::move(*store), std::move(*tokens));
  httplib::SSLServer& s = impl->server;
  if (!s.is_valid()) {
    return Error{"console: cannot load the certificate '" + options.cert_file + "' and key '" +
                 options.key_file + "'"};
  }
  SSL_CTX_set_min_proto_version(s.ssl_context(), TLS1_2_VERSION);
  s.new_task_queue = [] { return new ConsoleWorkers(); };
  s.set_read_timeout(kIoTimeoutS, 0);
  s.set_write_timeout(kIoTimeoutS, 0);
  s.set_keep_alive_timeout(kIoTimeoutS);
  s.set_keep_alive_max_count(100);
  s.set_payload_max_length(kMaxBodyBytes);
  // No SO_REUSEPORT (cpp-httplib's default): another process could bind the same port and
  // take half the logins. TCP_NODELAY (inherited by accepted sockets): cpp-httplib writes
  // headers and body apart, and Nagle's wait for the client's delayed ACK added 40 ms to
  // every answer.
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  });
  Impl* raw = impl.get();
  s.set_post_routing_handler(&Impl::SecurityHeaders);
  s.set_logger([raw](const httplib::Request&, const httplib::Response& res) {
    if (res.status == 413) raw->Count(&ConsoleCounters::console_requests_too_large);
    if (res.status == 400 || res.status == 414 || res.status == 431) {
      raw->Count(&ConsoleCounters::console_requests_malformed);
    }
  });
  impl->Routes();

  const std::string where = endpoint->host + ":" + std::to_string(endpoint->port);
  if (endpoint->port == 0) {
    impl->port = s.bind_to_any_port(endpoint->host);
    if (impl->port <= 0) return Error{"console: cannot listen on " + where};
  } else {
    if (!s.bind_to_port(endpoint->host, endpoint->port)) {
      return Error{"console: cannot listen on " + where + " (address in use or not local)"};
    }
    impl->port = endpoint->port;
  }
  impl->listener = std::thread([raw] { raw->server.listen_after_bind(); });
  for (int i = 0; i < 2000 && !s.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!options.port_file.empty()) {
    std::string tmp = options.port_file + ".tmp";
    if (FILE* f = fopen(tmp.c_str(), "w")) {
      fprintf(f, "%d\n", impl->port);
      fclose(f);
      rename(tmp.c_str(), options.port_file.c_str());
    }
  }
  spdlog::info("console on https://{}:{}/ ({} tokens)", endpoint->host, impl->port,
               raw->tokens.size());
  return std::unique_ptr<ConsoleServer>(new ConsoleServer(std::move(impl)));
}

}  // namespace credsentry::collector::console
