#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: dependencies, build, stock
# kernel, a packager's Release build with its unit tests, then every test (unit
# tests, and integration tests on real KVM — inside a nested VM when this
# machine has no /dev/kvm).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${FRANCA_BUILD:-$repo/build}
release=${FRANCA_RELEASE_BUILD:-$repo/build-release}
"$repo/scripts/install-deps.sh"
FRANCA_BUILD=$build "$repo/scripts/build.sh"
FRANCA_CACHE=$build/cache "$repo/scripts/fetch-kernel.sh"

# Release (-O3) warns where RelWithDebInfo (-O2) does not, and -Werror makes that
# a broken build for packagers. Its own tree, sharing the kernel cache; only the
# unit tests run there (integration, fuzz and style do not depend on the build type).
cmake -S "$repo" -B "$release" -DCMAKE_BUILD_TYPE=Release -DFRANCA_CACHE="$build/cache" >/dev/null
cmake --build "$release" -j "$(nproc)"
(cd "$release" && ctest --output-on-failure -j 2 -E '^(integration|fuzz|style)\.')

cd "$build"
ctest --output-on-failure -j 2 "$@"
