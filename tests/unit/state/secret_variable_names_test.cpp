// Which variables a team names as secrets: their values are learned when they look random.
#include <gtest/gtest.h>

#include <string>

#include "state/environ.h"

namespace credsentry::state {
namespace {

TEST(SecretVariableName, NamesThatSaySecret) {
  for (const char* n : {"DEPLOY_TOKEN", "SENTRY_AUTH_TOKEN", "STRIPE_SECRET", "SIGNING_KEY",
                        "DB_PASSWORD", "MYSQL_ROOT_PASSWORD_X", "SERVICE_CREDENTIALS",
                        "REGISTRY_AUTH", "api_key", "VENDOR_APIKEY", "BOT_PAT", "X_AUTH_HEADER"}) {
    EXPECT_TRUE(IsSecretVariableName(n)) << n;
  }
}

TEST(SecretVariableName, NamesThatDoNot) {
  for (const char* n : {"PATH", "HOME", "BUILD_ID", "KEYBOARD", "AUTHOR", "MONKEY",
                        "GOOGLE_APPLICATION_CREDENTIALS_FILE", "SSH_AUTH_SOCK", "TOKEN_URL",
                        "SECRETS_DIR", "VAULT_TOKEN_PATH"}) {
    EXPECT_FALSE(IsSecretVariableName(n)) << n;
  }
}

TEST(SecretVariableName, ShortValuesOfSecretNamesAreNotKept) {
  const std::string block = std::string("DEPLOY_TOKEN=") + std::string(40, 'x') + '\0' +
                            "TINY_TOKEN=abc123" + '\0' + "BUILD_ID=" + std::string(40, '7') +
                            '\0';
  auto found = InspectEnvironment(block, {});
  ASSERT_EQ(found.credential_values.size(), 1u);
  EXPECT_EQ(found.credential_values[0].first, "DEPLOY_TOKEN");
  EXPECT_EQ(found.credential_names, std::vector<std::string>{"DEPLOY_TOKEN"});
}

}  // namespace
}  // namespace credsentry::state
