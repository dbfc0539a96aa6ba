#!/usr/bin/env bash
# Fails when a tracked C++ file is not clang-formatted (.clang-format).
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files -z '*.cc' '*.h' | xargs -0 clang-format --dry-run -Werror
