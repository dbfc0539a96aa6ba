#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: dependencies, build, stock
# kernel, then every test (unit tests, and integration tests on real KVM —
# inside a nested VM when this machine has no /dev/kvm).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${FRANCA_BUILD:-$repo/build}
"$repo/scripts/install-deps.sh"
FRANCA_BUILD=$build "$repo/scripts/build.sh"
FRANCA_CACHE=$build/cache "$repo/scripts/fetch-kernel.sh"
cd "$build"
ctest --output-on-failure -j 2 "$@"
