// The redactor's shape rules, which need no known value: the value after a secret-looking option,
// header or assignment name, the password of URL userinfo, and random-looking tokens.
#pragma once

#include <string>
#include <string_view>

namespace credsentry::report {

// The shape rules alone (no values): secret-named options, headers and assignments, URL passwords,
// and random-looking tokens (judged per '/'-separated segment in paths and URLs, so a path is never
// one token). Each hidden value becomes its preview with no prefix ("…Xa9f").
std::string RedactSecretShapes(std::string_view text);

}  // namespace credsentry::report
