#include "pipeline/event_trace.h"

#include <nlohmann/json.hpp>

namespace credsentry::pipeline {

void TraceEvent(const decode::Event& event, const CredentialLearner& learner, std::FILE* out) {
  const auto& h = decode::HeaderOf(event);
  nlohmann::json j{{"type", decode::EventTypeName(h.type)},
                   {"pid", h.pid},
                   {"tid", h.tid},
                   {"uid", h.uid},
                   {"comm", learner.Redact(h.comm)}};
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (requires { e.capture; }) {
          j["fd"] = e.fd;
          j["len"] = e.capture.data.size();
          j["total_len"] = e.capture.total_len;
          if constexpr (std::is_same_v<T, decode::TlsWrite>) {
            if (e.ssl) j["ssl"] = e.ssl;
          }
        } else if constexpr (std::is_same_v<T, decode::Connect>) {
          j["fd"] = e.fd;
          j["ip"] = e.peer.ip;
          j["port"] = e.peer.port;
        } else if constexpr (std::is_same_v<T, decode::CredentialOpen>) {
          j["fd"] = e.fd;
          j["path"] = learner.Redact(e.path);
        } else if constexpr (std::is_same_v<T, decode::TlsSni>) {
          j["sni"] = learner.Redact(e.name);
        }
      },
      event);
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), out);
  std::fflush(out);
}

}  // namespace credsentry::pipeline
