#include "forward/splunk_hec.h"

#include <errno.h>
#include <string.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "store/alert_store.h"

namespace credsentry::collector {

std::string HecEvent(const v1::Alert& alert) {
  // Millisecond precision as HEC documents it, written as digits so no float rounding creeps in.
  char time[32];
  snprintf(time, sizeof time, "%llu.%03llu",
           static_cast<unsigned long long>(alert.time_ns() / 1'000'000'000),
           static_cast<unsigned long long>(alert.time_ns() / 1'000'000 % 1000));
  return std::string("{\"time\":") + time + ",\"host\":" +
         nlohmann::json(alert.host())
             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) +
         ",\"source\":\"credsentry\",\"sourcetype\":\"credsentry:alert\",\"event\":" +
         AlertToJson(alert) + "}";
}

Delivery JudgeHecResponse(const HttpResponse& r) {
  Delivery d = JudgeHttpStatus(r);
  if (d.outcome != Delivery::Outcome::kSent) return d;
  auto body = nlohmann::json::parse(r.body, nullptr, false);
  if (body.is_object() && body.value("code", -1) == 0) return d;
  d.outcome = Delivery::Outcome::kReject;  // a proxy's page, or HEC refusing in a 200
  d.why += " (not HEC's {\"code\":0})";
  return d;
}

Result<std::string> ReadHecToken(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error{"--splunk-token-file '" + path + "': cannot read: " + strerror(errno)};
  std::stringstream ss;
  ss << in.rdbuf();
  std::string token = ss.str();
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  if (token.empty()) return Error{"--splunk-token-file '" + path + "' is empty"};
  if (token.size() > 512)
    return Error{"--splunk-token-file '" + path + "' is not a token (too long)"};
  for (char c : token) {
    // It goes into a header line: a space, newline or control byte would split or forge it.
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return Error{"--splunk-token-file '" + path +
                   "' holds a space, line break or control character inside the token"};
    }
  }
  return token;
}

HttpFormat SplunkHecFormat(const std::string& token) {
  HttpFormat f;
  f.name = "splunk";
  f.payload = HecEvent;
  f.separator = "\n";
  f.headers = {{"Authorization", "Splunk " + token}};
  f.judge = JudgeHecResponse;
  f.delivery.max_batch = 100;
  f.delivery.max_batch_bytes = 512 * 1024;
  return f;
}

}  // namespace credsentry::collector
