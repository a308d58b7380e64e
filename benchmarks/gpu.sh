#!/usr/bin/env bash
# The GPU table of docs/performance.md in one command (one GPU, about 6 minutes on an H100):
#   bash benchmarks/gpu.sh              # measures, prints the table and splices it into the page
#   bash benchmarks/gpu.sh --dry-run    # the same cases on the tiny stack on the CPU (the tests run this)
# Further options go to benchmarks/gpu.py (--help); a later --splice FILE writes elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python}" benchmarks/gpu.py --splice docs/performance.md "$@"
