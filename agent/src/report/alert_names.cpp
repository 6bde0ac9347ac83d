#include "report/alert_names.h"

namespace credsentry::report {

std::string_view NameSourceName(alert::NameSource s) {
  switch (s) {
    case alert::NameSource::kSni: return "sni";
    case alert::NameSource::kDns: return "dns";
    case alert::NameSource::kIp: return "ip";
    case alert::NameSource::kTunnel: return "tunnel";
    case alert::NameSource::kDnsTunnel: return "dns-tunnel";
    case alert::NameSource::kNone: break;
  }
  return "";
}

std::string_view ProxyKindName(alert::ProxyKind k) {
  switch (k) {
    case alert::ProxyKind::kHttpConnect: return "http-connect";
    case alert::ProxyKind::kSocks5: return "socks5";
    case alert::ProxyKind::kDnsResolver: return "dns-resolver";
  }
  return "";
}

std::string_view TransportName(alert::Transport t) {
  switch (t) {
    case alert::Transport::kTls: return "tls";
    case alert::Transport::kTcp: return "tcp";
    case alert::Transport::kUdp: return "udp";
    case alert::Transport::kUnknown: break;
  }
  return "";
}

std::string_view FoundInName(alert::FoundIn f) {
  switch (f) {
    case alert::FoundIn::kTlsWrite: return "tls-write";
    case alert::FoundIn::kSocketWrite: return "socket-write";
    case alert::FoundIn::kUdpWrite: return "udp-write";
    case alert::FoundIn::kUringSend: return "io-uring-send";
    case alert::FoundIn::kProvenance: return "provenance";
    case alert::FoundIn::kNone: break;
  }
  return "";
}

std::string_view ActionName(alert::Action a) {
  switch (a) {
    case alert::Action::kObserved: return "observed";
    case alert::Action::kKilled: return "killed";
    case alert::Action::kKilledAfterSend: return "killed-after-send";
    case alert::Action::kBlocked: return "blocked";
  }
  return "observed";
}

}  // namespace credsentry::report
