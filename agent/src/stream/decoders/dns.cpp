#include "stream/decoders/dns.h"

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <unordered_map>

#include "decode/ip_address.h"
#include "stream/decoders/derived_text.h"
#include "stream/decoders/text_codecs.h"

namespace credsentry::stream::decoders {
namespace {

constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxName = 255;
constexpr int kMaxPointerJumps = 32;
constexpr size_t kMaxRecords = 256;  // per section; more is not a real message
constexpr uint16_t kTypeA = 1, kTypeCname = 5, kTypeAaaa = 28;
constexpr size_t kMinEncodedLabel = 16;
constexpr int kMaxCnameHops = 8;

uint16_t Read16(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint16_t>((b[at] << 8) | b[at + 1]);
}

// Reads a possibly compressed name at `at`; `at` moves past it in the message. Pointers must
// point strictly backwards, which rules out loops; the jump cap bounds the work regardless.
bool ReadName(std::span<const uint8_t> msg, size_t& at, std::string& name) {
  name.clear();
  size_t pos = at;
  bool jumped = false;
  int jumps = 0;
  for (;;) {
    if (pos >= msg.size()) return false;
    uint8_t len = msg[pos];
    if ((len & 0xC0) == 0xC0) {
      if (pos + 1 >= msg.size()) return false;
      size_t target = ((len & 0x3F) << 8) | msg[pos + 1];
      if (target >= pos || ++jumps > kMaxPointerJumps) return false;
      if (!jumped) at = pos + 2;
      jumped = true;
      pos = target;
      continue;
    }
    if ((len & 0xC0) != 0) return false;  // 0x40/0x80 label types are obsolete
    if (len == 0) {
      if (!jumped) at = pos + 1;
      return true;
    }
    if (pos + 1 + len > msg.size()) return false;
    if (!name.empty()) name.push_back('.');
    name.append(reinterpret_cast<const char*>(&msg[pos + 1]), len);
    if (name.size() > kMaxName) return false;
    pos += 1 + len;
  }
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Marks each answer with the question whose CNAME chain reaches its owner. Linear in the
// message: the names on each question's chain (at most kMaxCnameHops) are indexed first, so a
// hostile message of hundreds of records costs hash lookups, not a product of its sections.
void LinkCnameChains(DnsMessage& m) {
  std::unordered_map<std::string, std::string> cname_of;  // owner -> target, lower-case
  for (const auto& a : m.answers) {
    if (!a.cname.empty()) cname_of.emplace(Lower(a.name), Lower(a.cname));
  }
  std::unordered_map<std::string, const std::string*> asked_by;  // name on a chain -> question
  for (const auto& q : m.questions) {
    std::string at = Lower(q.name);
    for (int hop = 0; hop <= kMaxCnameHops; ++hop) {
      asked_by.emplace(at, &q.name);  // the first question reaching a name keeps it
      auto next = cname_of.find(at);
      if (next == cname_of.end()) break;
      at = next->second;
    }
  }
  for (auto& answer : m.answers) {
    if (auto it = asked_by.find(Lower(answer.name)); it != asked_by.end()) {
      answer.queried_name = *it->second;
    }
  }
}

}  // namespace

std::optional<DnsMessage> ParseDns(std::span<const uint8_t> payload, DnsTransport transport) {
  if (transport == DnsTransport::kTcp) {
    if (payload.size() < 2) return std::nullopt;
    size_t len = Read16(payload, 0);
    if (payload.size() - 2 < len) return std::nullopt;
    payload = payload.subspan(2, len);
  }
  if (payload.size() < kHeaderSize) return std::nullopt;
  DnsMessage m;
  m.id = Read16(payload, 0);
  m.response = (payload[2] & 0x80) != 0;
  size_t qd = Read16(payload, 4), an = Read16(payload, 6);
  if (qd > kMaxRecords || an > kMaxRecords) return std::nullopt;
  size_t at = kHeaderSize;
  for (size_t i = 0; i < qd; ++i) {
    DnsQuestion q;
    if (!ReadName(payload, at, q.name) || at + 4 > payload.size()) return std::nullopt;
    q.qtype = Read16(payload, at);
    at += 4;
    m.questions.push_back(std::move(q));
  }
  for (size_t i = 0; i < an; ++i) {
    DnsAnswer a;
    if (!ReadName(payload, at, a.name) || at + 10 > payload.size()) return std::nullopt;
    uint16_t type = Read16(payload, at);
    a.ttl = (uint32_t{Read16(payload, at + 4)} << 16) | Read16(payload, at + 6);
    size_t rdlen = Read16(payload, at + 8);
    at += 10;
    if (at + rdlen > payload.size()) return std::nullopt;
    if (type == kTypeA && rdlen == 4) {
      a.ip = decode::IpText(AF_INET, payload.subspan(at, 4));
    } else if (type == kTypeAaaa && rdlen == 16) {
      a.ip = decode::IpText(AF_INET6, payload.subspan(at, 16));  // as connections write it
    } else if (type == kTypeCname) {
      size_t rd_at = at;
      if (!ReadName(payload.first(at + rdlen), rd_at, a.cname)) return std::nullopt;
    }
    at += rdlen;
    if (!a.ip.empty() || !a.cname.empty()) m.answers.push_back(std::move(a));
  }
  LinkCnameChains(m);
  return m;
}

std::vector<std::string> DecodeDnsLabels(std::string_view qname) {
  std::vector<std::string_view> labels;
  size_t start = 0;
  while (start <= qname.size()) {
    size_t dot = qname.find('.', start);
    std::string_view label =
        qname.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!label.empty()) labels.push_back(label);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  // The last two labels are the registered domain the attacker owns; the payload is left of it.
  if (labels.size() <= 2) return {};
  labels.resize(labels.size() - 2);

  std::vector<std::string> out;
  auto add = [&](std::string s) {
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
  };
  auto try_decodes = [&](std::string_view text) {
    if (text.size() < kMinEncodedLabel) return;
    for (auto decoded : {HexDecode(text), Base32Decode(text), Base64Decode(text)}) {
      if (decoded && LooksLikeText(*decoded)) add(std::move(*decoded));
    }
  };
  // Tunnelling tools split the payload over several labels, and may add a sequence or session
  // label after it: every run of labels starting at the left is tried, as is each label.
  for (auto label : labels) try_decodes(label);
  std::string joined;
  for (size_t k = 0; k < labels.size(); ++k) {
    joined.append(labels[k]);
    if (k > 0) try_decodes(joined);
  }
  if (labels.size() > 1) add(joined);
  return out;
}

void EmitDnsMessage(std::span<const uint8_t> payload, DnsTransport transport, uint64_t unit_id,
                    DecoderCounters& counters, const ChunkSink& sink) {
  auto message = ParseDns(payload, transport);
  if (!message) {
    ++counters.parse_errors;
    return;
  }
  static const std::vector<std::string> kQnameDecoding{"dns"};
  static const std::vector<std::string> kLabelDecoding{"dns", "labels"};
  for (const auto& q : message->questions) {
    EmitUnit(kLayerDnsQname, unit_id, q.name, kQnameDecoding, sink);
    for (const auto& candidate : DecodeDnsLabels(q.name)) {
      EmitUnit(kLayerDnsLabel, unit_id, candidate, kLabelDecoding, sink);
    }
  }
}

std::vector<ResolvedAddress> ResolvedAddresses(const DnsMessage& message) {
  std::vector<ResolvedAddress> out;
  if (!message.response) return out;
  for (const auto& a : message.answers) {
    // An address record no question leads to is not what the client asked for (and is how
    // cache poisoning smuggles names in): it names nothing.
    if (a.ip.empty() || a.queried_name.empty()) continue;
    // The name ends up in alerts as the destination host: only host-name characters qualify.
    if (!std::all_of(a.queried_name.begin(), a.queried_name.end(), [](unsigned char c) {
          return std::isalnum(c) || c == '-' || c == '_' || c == '.';
        })) {
      continue;
    }
    out.push_back({a.ip, Lower(a.queried_name), a.ttl});
  }
  return out;
}

}  // namespace credsentry::stream::decoders
