// Named checks a match must pass before it counts (rules name them in `validate:`). They turn a
// format-shaped string into a credential with evidence beyond the regex: a fixed marker, a
// checksum, an alphabet, enough randomness. Each sees the extracted value only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace credsentry::catalogue {

using Validator = bool (*)(std::string_view value);

// nullptr when no validator has that name.
Validator FindValidator(std::string_view name);
std::vector<std::string> ValidatorNames();

// GitHub's token checksum (github.blog 2021-04-05 "Behind GitHub's new authentication token
// formats"): CRC32 of the 30 random characters, base62 (0-9A-Za-z), left-padded with '0' to 6.
uint32_t Crc32(std::string_view bytes);
std::string GithubChecksum(std::string_view random_part);

// Shannon entropy in bits per byte.
double ShannonEntropy(std::string_view value);

}  // namespace credsentry::catalogue
