// Where bytes go: sockets of in-scope processes (from connect records, or found under /proc at
// start) and the TLS objects bound to them, with the names (SNI) those TLS objects were given.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "decode/events.h"
#include "state/scope.h"

namespace credsentry::state {

struct Connection {
  uint32_t pid = 0;
  int32_t fd = -1;
  bool udp = false;
  decode::SocketAddress peer;
  std::string sni;   // from a ClientHello seen on the socket, or SSL_ctrl on its SSL object
  std::string alpn;
  uint64_t last_mono_ns = 0;
  // The name the peer address was resolved from (DNS answer seen before the connection was
  // first judged); kept for the connection's life even when the answer's TTL runs out.
  std::string dns_name;
};

struct TlsObject {
  int32_t fd = -1;
  std::string sni;
  uint64_t last_mono_ns = 0;
};

// A socket found under /proc at start, so the kernel can be told to watch it.
struct ExistingSocket {
  uint32_t pid;
  int32_t fd;
  bool udp;
};

class ConnectionTable {
 public:
  explicit ConnectionTable(size_t max_connections = 65536, size_t max_tls_objects = 65536);

  void OnConnect(const decode::Connect& e);
  void OnClose(uint32_t pid, int32_t fd);
  void OnTlsFd(uint32_t pid, uint64_t ssl, int32_t fd, uint64_t mono_ns);
  void OnTlsSni(uint32_t pid, uint64_t ssl, const std::string& name, uint64_t mono_ns);
  void SetSocketSni(uint32_t pid, int32_t fd, const std::string& sni, const std::string& alpn);

  Connection* Find(uint32_t pid, int32_t fd);
  // The socket of `pid` whose ClientHello named `sni` most recently, or -1. For TLS objects
  // that never learn their fd: node and other memory-BIO users write ciphertext themselves.
  int32_t SocketWithSni(uint32_t pid, const std::string& sni);
  const TlsObject* FindTls(uint32_t pid, uint64_t ssl) const;
  // Forgets everything of an exited process; returns its fds so the kernel can forget them too.
  std::vector<int32_t> ForgetProcess(uint32_t pid);

  // Inet sockets of in-scope processes at start, from /proc/<pid>/fd and /proc/<pid>/net/*.
  std::vector<ExistingSocket> LoadFromProc(const Scope& scope, const std::vector<uint32_t>& pids);

  size_t size() const { return conns_.size(); }
  uint64_t evicted() const { return evicted_; }

 private:
  struct Key {
    uint32_t pid;
    uint64_t id;  // fd or SSL*
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return std::hash<uint64_t>()(k.id * 31 + k.pid); }
  };
  template <class Map>
  void EvictOldest(Map& m);

  size_t max_connections_;
  size_t max_tls_objects_;
  std::unordered_map<Key, Connection, KeyHash> conns_;
  std::unordered_map<Key, TlsObject, KeyHash> tls_;
  // "pid|sni" -> fd of the latest ClientHello with that name; checked against conns_ on use,
  // bounded with it (cleared when it outgrows max_connections_).
  std::unordered_map<std::string, int32_t> sni_sockets_;
  uint64_t evicted_ = 0;
};

}  // namespace credsentry::state
