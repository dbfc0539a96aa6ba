#!/usr/bin/env bash
# Configures and builds franca into build/ (override with FRANCA_BUILD).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${FRANCA_BUILD:-$repo/build}
cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)"
