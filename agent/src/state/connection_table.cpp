#include "state/connection_table.h"

#include <dirent.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "decode/ip_address.h"

namespace credsentry::state {

ConnectionTable::ConnectionTable(size_t max_connections, size_t max_tls_objects)
    : max_connections_(max_connections), max_tls_objects_(max_tls_objects) {}

template <class Map>
void ConnectionTable::EvictOldest(Map& m) {
  auto victim = m.begin();
  for (auto it = m.begin(); it != m.end(); ++it) {
    if (it->second.last_mono_ns < victim->second.last_mono_ns) victim = it;
  }
  if (victim != m.end()) {
    m.erase(victim);
    ++evicted_;
  }
}

void ConnectionTable::OnConnect(const decode::Connect& e) {
  if (e.ret != 0 && e.ret != -115 /* -EINPROGRESS */) return;
  if (conns_.size() >= max_connections_) EvictOldest(conns_);
  Connection c;
  c.pid = e.header.pid;
  c.fd = e.fd;
  c.udp = e.sock_type == SOCK_DGRAM;
  c.peer = e.peer;
  c.last_mono_ns = e.header.ts_ns;
  conns_[Key{e.header.pid, static_cast<uint32_t>(e.fd)}] = std::move(c);
}

void ConnectionTable::OnClose(uint32_t pid, int32_t fd) {
  conns_.erase(Key{pid, static_cast<uint32_t>(fd)});
}

void ConnectionTable::OnTlsFd(uint32_t pid, uint64_t ssl, int32_t fd, uint64_t mono_ns) {
  if (tls_.size() >= max_tls_objects_ && !tls_.count(Key{pid, ssl})) EvictOldest(tls_);
  auto& t = tls_[Key{pid, ssl}];
  t.fd = fd;
  t.last_mono_ns = mono_ns;
  if (auto* c = Find(pid, fd); c && c->sni.empty() && !t.sni.empty()) c->sni = t.sni;
}

void ConnectionTable::OnTlsSni(uint32_t pid, uint64_t ssl, const std::string& name,
                               uint64_t mono_ns) {
  if (tls_.size() >= max_tls_objects_ && !tls_.count(Key{pid, ssl})) EvictOldest(tls_);
  auto& t = tls_[Key{pid, ssl}];
  t.sni = name;
  t.last_mono_ns = mono_ns;
}

void ConnectionTable::SetSocketSni(uint32_t pid, int32_t fd, const std::string& sni,
                                   const std::string& alpn) {
  if (auto* c = Find(pid, fd)) {
    if (!sni.empty()) {
      c->sni = sni;
      if (sni_sockets_.size() >= max_connections_) sni_sockets_.clear();
      sni_sockets_[std::to_string(pid) + "|" + sni] = fd;
    }
    if (!alpn.empty()) c->alpn = alpn;
  }
}

int32_t ConnectionTable::SocketWithSni(uint32_t pid, const std::string& sni) {
  auto it = sni_sockets_.find(std::to_string(pid) + "|" + sni);
  if (it == sni_sockets_.end()) return -1;
  const Connection* c = Find(pid, it->second);
  if (c && c->sni == sni) return it->second;
  sni_sockets_.erase(it);  // closed, or the fd now holds another connection
  return -1;
}

Connection* ConnectionTable::Find(uint32_t pid, int32_t fd) {
  auto it = conns_.find(Key{pid, static_cast<uint32_t>(fd)});
  return it == conns_.end() ? nullptr : &it->second;
}

const TlsObject* ConnectionTable::FindTls(uint32_t pid, uint64_t ssl) const {
  auto it = tls_.find(Key{pid, ssl});
  return it == tls_.end() ? nullptr : &it->second;
}

std::vector<int32_t> ConnectionTable::ForgetProcess(uint32_t pid) {
  std::vector<int32_t> fds;
  for (auto it = conns_.begin(); it != conns_.end();) {
    if (it->second.pid == pid) {
      fds.push_back(it->second.fd);
      it = conns_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = tls_.begin(); it != tls_.end();) {
    if (it->first.pid == pid) {
      it = tls_.erase(it);
    } else {
      ++it;
    }
  }
  std::erase_if(sni_sockets_, [prefix = std::to_string(pid) + "|"](const auto& entry) {
    return entry.first.starts_with(prefix);
  });
  return fds;
}

namespace {

struct ProcNetEntry {
  decode::SocketAddress peer;
  bool udp;
};

// /proc/<pid>/net/{tcp,tcp6,udp,udp6}: socket inode -> remote address.
void ReadProcNet(const std::string& path, bool v6, bool udp,
                 std::unordered_map<uint64_t, ProcNetEntry>& out) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream row(line);
    std::string sl, local, remote, st, queues, tr, retr, uid, timeout, inode;
    row >> sl >> local >> remote >> st >> queues >> tr >> retr >> uid >> timeout >> inode;
    auto colon = remote.find(':');
    if (colon == std::string::npos || inode.empty()) continue;
    std::string hex = remote.substr(0, colon);
    ProcNetEntry e;
    e.udp = udp;
    uint8_t addr[16] = {};
    size_t words = v6 ? 4 : 1;
    if (hex.size() != words * 8) continue;
    for (size_t w = 0; w < words; ++w) {
      // The kernel prints each 32-bit word in host (little-endian) order.
      uint32_t v = static_cast<uint32_t>(std::stoul(hex.substr(w * 8, 8), nullptr, 16));
      std::memcpy(addr + w * 4, &v, 4);
    }
    e.peer = decode::MakeSocketAddress(
        v6 ? AF_INET6 : AF_INET,
        static_cast<uint16_t>(std::stoul(remote.substr(colon + 1), nullptr, 16)), addr);
    out[std::stoull(inode)] = e;
  }
}

}  // namespace

std::vector<ExistingSocket> ConnectionTable::LoadFromProc(const Scope& scope,
                                                          const std::vector<uint32_t>& pids) {
  std::vector<ExistingSocket> found;
  for (uint32_t pid : pids) {
    const std::string base = scope.proc_root() + "/" + std::to_string(pid);
    std::unordered_map<uint64_t, ProcNetEntry> net;
    ReadProcNet(base + "/net/tcp", false, false, net);
    ReadProcNet(base + "/net/tcp6", true, false, net);
    ReadProcNet(base + "/net/udp", false, true, net);
    ReadProcNet(base + "/net/udp6", true, true, net);
    DIR* dir = opendir((base + "/fd").c_str());
    if (!dir) continue;
    while (dirent* ent = readdir(dir)) {
      char* end = nullptr;
      long fd = std::strtol(ent->d_name, &end, 10);
      if (*end != '\0' || ent->d_name[0] == '.') continue;
      char target[64];
      ssize_t n = readlink((base + "/fd/" + ent->d_name).c_str(), target, sizeof target - 1);
      if (n <= 0) continue;
      target[n] = '\0';
      unsigned long long inode = 0;
      if (std::sscanf(target, "socket:[%llu]", &inode) != 1) continue;
      auto it = net.find(inode);
      if (it == net.end() || it->second.peer.port == 0) continue;  // not a connected inet socket
      if (conns_.size() >= max_connections_) break;
      Connection c;
      c.pid = pid;
      c.fd = static_cast<int32_t>(fd);
      c.udp = it->second.udp;
      c.peer = it->second.peer;
      conns_[Key{pid, static_cast<uint32_t>(fd)}] = c;
      found.push_back({pid, static_cast<int32_t>(fd), it->second.udp});
    }
    closedir(dir);
  }
  return found;
}

}  // namespace credsentry::state
