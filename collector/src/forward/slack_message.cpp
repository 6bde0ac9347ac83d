#include "forward/slack_message.h"

#include <time.h>

#include <nlohmann/json.hpp>

namespace credsentry::collector {

namespace {

using Json = nlohmann::ordered_json;  // "text" before "blocks", as a reader of the bytes expects

// At most `max` bytes, cut on a UTF-8 boundary, so one long cmdline cannot fill the message.
std::string Clip(std::string_view text, size_t max = 200) {
  if (text.size() <= max) return std::string(text);
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "…";
}

// Inside `code`, a backtick would end the span early.
std::string Code(std::string_view text) {
  std::string s = SlackEscape(Clip(text));
  for (char& c : s) {
    if (c == '`') c = '\'';
  }
  return "`" + s + "`";
}

std::string SeverityWord(v1::Severity s) {
  std::string name = v1::Severity_Name(s);  // "SEVERITY_HIGH"
  return name.substr(name.find('_') + 1);
}

// "tls" -> "TLS", "sni" -> "SNI": the agent's words are lower-case tags.
std::string Upper(std::string s) {
  for (char& c : s) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  return s;
}

std::string DestinationText(const v1::Destination& d) {
  std::string addr = d.ip().find(':') != std::string::npos ? "[" + d.ip() + "]" : d.ip();
  if (!addr.empty() && d.port()) addr += ":" + std::to_string(d.port());
  std::string out = SlackEscape(Clip(d.host()));
  if (!addr.empty()) out += out.empty() ? SlackEscape(addr) : " (" + SlackEscape(addr) + ")";
  if (!d.transport().empty()) out += " over " + SlackEscape(Upper(Clip(d.transport(), 16)));
  if (!d.name_source().empty())
    out += ", named by " + SlackEscape(Upper(Clip(d.name_source(), 16)));
  return out;
}

Json Field(const std::string& label, const std::string& mrkdwn) {
  return {{"type", "mrkdwn"}, {"text", "*" + label + "*\n" + mrkdwn}};
}

}  // namespace

std::string SlackEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string SlackMessage(const v1::Alert& a) {
  const std::string severity = SeverityWord(a.severity());
  const std::string summary = SlackEscape(Clip(a.summary()));
  const std::string host = SlackEscape(Clip(a.host()));
  const bool loud = a.severity() >= v1::SEVERITY_HIGH;

  Json fields = Json::array();
  fields.push_back(Field("Host", host));
  if (a.has_process() && (a.process().pid() || !a.process().comm().empty())) {
    fields.push_back(Field(
        "Process", Code(a.process().comm()) + " (pid " + std::to_string(a.process().pid()) + ")"));
  }
  if (a.has_destination()) fields.push_back(Field("Destination", DestinationText(a.destination())));
  if (a.has_secret()) {
    const v1::Secret& s = a.secret();
    std::string what = SlackEscape(Clip(s.type(), 80));
    if (!s.redacted().empty()) what += " " + Code(s.redacted());
    if (!s.found_in().empty()) what += ", in " + SlackEscape(Clip(s.found_in(), 40));
    fields.push_back(Field("Secret", what));
    if (!s.fingerprint().empty()) fields.push_back(Field("Fingerprint", Code(s.fingerprint())));
  }
  fields.push_back(Field("Alert", Code(a.id()) + " " + SlackEscape(Clip(a.kind(), 80))));

  // Slack renders <!date^...> in each reader's time zone; the fallback is UTC.
  time_t secs = static_cast<time_t>(a.time_ns() / 1'000'000'000);
  struct tm tm {};
  char utc[40];
  strftime(utc, sizeof utc, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&secs, &tm));
  std::string when =
      "<!date^" + std::to_string(secs) + "^{date_short_pretty} {time_secs}|" + utc + ">";

  Json message;
  message["text"] = "[" + severity + "] " + summary + " on " + host;
  message["blocks"] = Json::array(
      {{{"type", "section"},
        {"text",
         {{"type", "mrkdwn"},
          {"text", std::string(loud ? ":rotating_light: " : ":warning: ") + "*" + severity + "*  " +
                       summary}}}},
       {{"type", "section"}, {"fields", fields}},
       {{"type", "context"},
        {"elements", Json::array({{{"type", "mrkdwn"}, {"text", "credsentry · " + when}}})}}});
  return message.dump(-1, ' ', false, Json::error_handler_t::replace);
}

HttpFormat SlackFormat() {
  HttpFormat f;
  f.name = "slack";
  f.payload = SlackMessage;
  return f;
}

}  // namespace credsentry::collector
