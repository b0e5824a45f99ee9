#!/usr/bin/env bash
# npm run bench [-- --json] [--quick] [--no-mount]: build if needed, then run
# the benchmarks (src/bench/index.ts), passing the arguments through.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/bench/index.js "$@"
