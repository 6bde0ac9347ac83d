#!/usr/bin/env bash
# The stage order, the ABI boundary and the file-size limit of the README's "Layout" section.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
/usr/bin/python3 tests/layout/check_layout.py .
