#include "scan/scan.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/unique_fd.h"
#include "report/redact.h"

namespace credsentry::scan {
namespace fs = std::filesystem;
namespace {

constexpr size_t kReadBytes = 64 << 10;

class Scanner {
 public:
  Scanner(const match::MatcherDatabase& db, const report::Fingerprinter& fp, std::ostream& out,
          std::ostream& err, const ScanLimits& limits)
      // Non-owning: the caller's database outlives the scan.
      : db_(std::shared_ptr<void>(), &db), fp_(fp), out_(out), err_(err), limits_(limits) {}

  void ScanNamed(const std::string& path);
  const ScanSummary& summary() const { return summary_; }

 private:
  void ScanTree(const fs::path& root);
  // Returns false (and says why) when the file could not be scanned.
  bool ScanFd(int fd, const std::string& shown_path);
  void Report(const match::SecretMatch& m, const std::string& path, uint64_t line);
  bool Full() {
    if (summary_.files >= limits_.max_files || summary_.findings >= limits_.max_findings) {
      if (!summary_.truncated) err_ << "credsentry scan: limit reached, stopping early\n";
      summary_.truncated = true;
    }
    return summary_.truncated;
  }

  std::shared_ptr<const match::MatcherDatabase> db_;
  const report::Fingerprinter& fp_;
  std::ostream& out_;
  std::ostream& err_;
  ScanLimits limits_;
  ScanSummary summary_;
};

void Scanner::ScanNamed(const std::string& path) {
  if (Full()) return;
  if (path == "-") {
    if (!ScanFd(STDIN_FILENO, "-")) ++summary_.errors;  // stdin is not ours to close
    return;
  }
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (ec) {
    err_ << "credsentry scan: " << path << ": " << ec.message() << "\n";
    ++summary_.errors;
    return;
  }
  if (fs::is_directory(st)) {
    ScanTree(path);
    return;
  }
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    err_ << "credsentry scan: " << path << ": cannot open: " << std::strerror(errno) << "\n";
    ++summary_.errors;
    return;
  }
  if (!ScanFd(fd.get(), path)) ++summary_.errors;
}

void Scanner::ScanTree(const fs::path& root) {
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec);
  if (ec) {
    err_ << "credsentry scan: " << root.string() << ": " << ec.message() << "\n";
    ++summary_.errors;
    return;
  }
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) {
      err_ << "credsentry scan: " << root.string() << ": " << ec.message() << ", skipped\n";
      ++summary_.skipped;
      ec.clear();
      break;
    }
    if (Full()) return;
    if (static_cast<size_t>(it.depth()) >= limits_.max_depth) it.disable_recursion_pending();
    std::error_code tec;
    if (!it->is_regular_file(tec) || it->is_symlink(tec)) continue;  // no devices, fifos, links
    std::string path = it->path().string();
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (fd.get() < 0) {
      err_ << "credsentry scan: " << path << ": cannot open: " << std::strerror(errno)
           << ", skipped\n";
      ++summary_.skipped;
      continue;
    }
    if (!ScanFd(fd.get(), path)) ++summary_.skipped;
  }
}

// Streams the file through one MatchStream. A match's line is found from the chunk it starts
// in: values are at most MatchStream::kMaxValueBytes long, so they start in the current or the
// previous chunk.
bool Scanner::ScanFd(int fd, const std::string& shown_path) {
  ++summary_.files;
  match::MatchStream stream(db_);
  std::vector<uint8_t> prev, cur(kReadBytes);
  uint64_t prev_base = 0, cur_base = 0, lines_before_prev = 0, lines_before_cur = 0;
  auto line_of = [&](uint64_t start) -> uint64_t {
    auto count = [](const std::vector<uint8_t>& b, size_t from, size_t to) {
      return static_cast<uint64_t>(std::count(b.begin() + from, b.begin() + to, '\n'));
    };
    if (start >= cur_base) return lines_before_cur + count(cur, 0, start - cur_base) + 1;
    if (start >= prev_base) return lines_before_prev + count(prev, 0, start - prev_base) + 1;
    return lines_before_prev + 1;
  };
  auto on_match = [&](const match::SecretMatch& m) { Report(m, shown_path, line_of(m.start)); };
  for (;;) {
    cur.resize(kReadBytes);
    ssize_t n = ::read(fd, cur.data(), cur.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err_ << "credsentry scan: " << shown_path << ": read error: " << std::strerror(errno) << "\n";
      return false;
    }
    cur.resize(static_cast<size_t>(n));
    if (n == 0) break;
    stream.Feed(cur, on_match);
    summary_.bytes += static_cast<uint64_t>(n);
    prev.swap(cur);
    prev_base = cur_base;
    lines_before_prev = lines_before_cur;
    cur_base += static_cast<uint64_t>(n);
    lines_before_cur += static_cast<uint64_t>(std::count(prev.begin(), prev.end(), '\n'));
  }
  stream.Close(on_match);
  return true;
}

void Scanner::Report(const match::SecretMatch& m, const std::string& path, uint64_t line) {
  if (summary_.findings >= limits_.max_findings) {
    summary_.truncated = true;
    return;
  }
  ++summary_.findings;
  const catalogue::CredentialKind& kind = db_->rules().kinds[m.kind_index];
  nlohmann::json j;
  j["kind"] = kind.id;
  j["provider"] = kind.provider;
  j["name"] = kind.name;
  j["severity"] = alert::SeverityName(kind.severity);
  // A path need not be UTF-8; replace what JSON cannot carry rather than throw.
  j["path"] = path;
  j["line"] = line;
  if (m.value_available) {
    j["redacted"] = report::Redact(m.value, kind.preview_prefix);
    j["fingerprint"] = fp_.Of(m.value);
  } else {
    j["redacted"] = nullptr;
    j["fingerprint"] = nullptr;
  }
  out_ << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

}  // namespace

int RunScan(const std::vector<std::string>& paths, const match::MatcherDatabase& db,
            const report::Fingerprinter& fingerprints, std::ostream& out, std::ostream& err,
            const ScanLimits& limits, ScanSummary* summary) {
  Scanner scanner(db, fingerprints, out, err, limits);
  if (paths.empty()) err << "credsentry scan: no path given (use - for stdin)\n";
  for (const auto& p : paths) scanner.ScanNamed(p);
  out.flush();
  const ScanSummary& s = scanner.summary();
  if (summary) *summary = s;
  if (s.errors > 0 || paths.empty()) return 2;
  return s.findings > 0 ? 1 : 0;
}

}  // namespace credsentry::scan
