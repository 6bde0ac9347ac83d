#!/usr/bin/env bash
# The stage order, the ABI boundary and the file-size limit of the README's "Layout" section,
# after the checker's own tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
/usr/bin/python3 tests/layout/test_check_layout.py
/usr/bin/python3 tests/layout/check_layout.py .
