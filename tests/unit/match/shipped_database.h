// The shipped catalogue (rules/credentials in the source tree) compiled once per test binary,
// for tests that check what users of the shipped rules would see.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "catalogue/rules.h"
#include "match/matcher.h"

namespace credsentry::testing {

inline std::shared_ptr<const match::MatcherDatabase> ShippedMatcherDatabase() {
  static const std::shared_ptr<const match::MatcherDatabase> kDb = [] {
    auto loaded = catalogue::LoadRules({CREDSENTRY_SOURCE_RULES_DIR});
    if (!loaded.ok()) {
      ADD_FAILURE() << loaded.message();
      return std::shared_ptr<const match::MatcherDatabase>();
    }
    auto db = match::MatcherDatabase::Compile(std::move(*loaded));
    if (!db.ok()) {
      ADD_FAILURE() << db.message();
      return std::shared_ptr<const match::MatcherDatabase>();
    }
    return *db;
  }();
  return kDb;
}

}  // namespace credsentry::testing
