#include "pipeline/inventory.h"

#include <sys/stat.h>

#include <fstream>

#include "config/credential_files.h"
#include "report/redact.h"

namespace credsentry::pipeline {

std::vector<report::StoredCredential> BuildInventory(
    const std::shared_ptr<const match::MatcherDatabase>& shared_db,
    const report::Fingerprinter& fp) {
  const match::MatcherDatabase& db = *shared_db;
  constexpr off_t kMaxFileBytes = 1 << 20;
  std::vector<report::StoredCredential> out;
  size_t files = 0;
  for (const auto& p : config::ExpandCredentialPaths(db.rules())) {
    struct stat sb;
    if (stat(p.path.c_str(), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > kMaxFileBytes) {
      continue;
    }
    if (++files > kMaxInventoryFiles) break;
    std::ifstream in(p.path, std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    match::MatchStream scan(shared_db);
    auto record = [&](const match::SecretMatch& m) {
      if (!m.value_available || m.kind_index >= db.rules().kinds.size()) return;
      const auto& kind = db.rules().kinds[m.kind_index];
      report::StoredCredential c;
      c.path = p.path;
      c.owner_uid = sb.st_uid;
      c.type = kind.id;
      c.provider = kind.provider;
      c.fingerprint = fp.Of(m.value);
      c.redacted = report::Redact(m.value, kind.preview_prefix);
      c.file_mtime_ns = static_cast<uint64_t>(sb.st_mtim.tv_sec) * 1000000000ull +
                        static_cast<uint64_t>(sb.st_mtim.tv_nsec);
      out.push_back(std::move(c));
    };
    scan.Feed(std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()), record);
    scan.Close(record);
  }
  return out;
}

}  // namespace credsentry::pipeline
