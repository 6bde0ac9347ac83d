#include "report/alert_json.h"

#include <openssl/rand.h>

#include <ctime>

#include "report/alert_names.h"

namespace credsentry::report {

std::string IsoTime(uint64_t wall_ns) {
  time_t secs = static_cast<time_t>(wall_ns / 1000000000ull);
  struct tm tm_utc;
  gmtime_r(&secs, &tm_utc);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm_utc);
  snprintf(buf + n, sizeof buf - n, ".%09lluZ",
           static_cast<unsigned long long>(wall_ns % 1000000000ull));
  return buf;
}

namespace {

// Optional blocks appear only on alerts that have them.
void AddContextBlocks(const alert::Alert& a, nlohmann::json& j) {
  j["process"]["credential_env"] = a.process.credential_env;
  j["process"]["systemd_unit"] = a.process.systemd_unit;
  if (const alert::KubePodInfo& pod = a.process.pod; !pod.empty()) {
    j["process"]["pod"] = {{"uid", pod.uid}, {"name", pod.name}, {"namespace", pod.ns}};
  }
  if (!a.ci.provider.empty()) {
    j["ci"] = {{"provider", a.ci.provider}, {"repository", a.ci.repository},
               {"workflow", a.ci.workflow}, {"run_id", a.ci.run_id}, {"job", a.ci.job}};
  }
  if (a.target.pid != 0) {
    j["target"] = {{"pid", a.target.pid},       {"uid", a.target.uid},
                   {"comm", a.target.comm},     {"exe", a.target.exe},
                   {"access", a.target.access}, {"credential_env", a.target.credential_env},
                   {"in_scope", a.target.in_scope}, {"container", a.target.container}};
    if (!a.target.systemd_unit.empty()) j["target"]["systemd_unit"] = a.target.systemd_unit;
    if (const alert::CiInfo& ci = a.target.ci; !ci.provider.empty()) {
      j["target"]["ci"] = {{"provider", ci.provider}, {"repository", ci.repository},
                           {"workflow", ci.workflow},  {"run_id", ci.run_id},
                           {"job", ci.job}};
    }
    if (const alert::KubePodInfo& pod = a.target.pod; !pod.empty()) {
      j["target"]["pod"] = {{"uid", pod.uid}, {"name", pod.name}, {"namespace", pod.ns}};
    }
  }
}

}  // namespace

nlohmann::json AlertToJson(const alert::Alert& a) {
  using nlohmann::json;
  json ancestors = json::array();
  for (const auto& anc : a.process.ancestors) {
    ancestors.push_back({{"pid", anc.pid}, {"comm", anc.comm}, {"exe", anc.exe},
                         {"cmdline", anc.cmdline}});
  }
  json reads = json::array();
  for (const auto& r : a.evidence.credential_reads) {
    reads.push_back({{"path", r.path}, {"pid", r.pid}, {"comm", r.comm},
                     {"time", IsoTime(r.time_ns)}, {"time_ns", r.time_ns}});
  }
  json j{
      {"id", a.id},
      {"time", IsoTime(a.time_ns)},
      {"kind", a.kind},
      {"severity", alert::SeverityName(a.severity)},
      {"summary", a.summary},
      {"host", a.host},
      {"action", std::string(ActionName(a.action))},
      {"process",
       {{"pid", a.process.pid},
        {"ppid", a.process.ppid},
        {"uid", a.process.uid},
        {"comm", a.process.comm},
        {"exe", a.process.exe},
        {"cmdline", a.process.cmdline},
        {"ancestors", ancestors},
        {"cgroup", a.process.cgroup},
        {"container", a.process.container}}},
      {"secret",
       {{"type", a.secret.type},
        {"provider", a.secret.provider},
        {"name", a.secret.name},
        {"redacted", a.secret.redacted},
        {"fingerprint", a.secret.fingerprint},
        {"found_in", std::string(FoundInName(a.secret.found_in))}}},
      {"destination",
       {{"host", a.destination.host},
        {"ip", a.destination.ip},
        {"port", a.destination.port},
        {"transport", std::string(TransportName(a.destination.transport))},
        {"name_source", std::string(NameSourceName(a.destination.name_source))},
        {"expected", a.destination.expected}}},
      {"evidence",
       {{"credential_reads", reads},
        {"decoding", a.evidence.decoding},
        {"notes", a.evidence.notes}}},
  };
  if (const auto& via = a.destination.via) {
    // Only tunnelled connections carry it: host, ip and port above name the tunnel's target.
    j["destination"]["via"] = {{"kind", std::string(ProxyKindName(via->kind))},
                               {"host", via->host},
                               {"ip", via->ip},
                               {"port", via->port}};
  }
  AddContextBlocks(a, j);
  return j;
}

std::string AlertToJsonLine(const alert::Alert& alert) {
  // Replace invalid UTF-8 (process names and paths are bytes) instead of throwing.
  return AlertToJson(alert).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace credsentry::report
