// The spellings of the alert's enums on the wire: JSON lines and protobuf use the same words
// (README.md, "An alert"). Inside the agent they are enums; here alone they become text.
#pragma once

#include <string_view>

#include "alert/alert.h"

namespace credsentry::report {

// "sni", "dns", "ip", "tunnel", "dns-tunnel"; "" for kNone
std::string_view NameSourceName(alert::NameSource s);
std::string_view ProxyKindName(alert::ProxyKind k);    // "http-connect", "socks5", "dns-resolver"
std::string_view TransportName(alert::Transport t);    // "tls", "tcp", "udp"; "" for kUnknown
std::string_view FoundInName(alert::FoundIn f);  // "tls-write", "socket-write", ...; "" for kNone
// "observed", "killed", "killed-after-send", "blocked"
std::string_view ActionName(alert::Action a);

}  // namespace credsentry::report
