#!/usr/bin/env bash
# The GPU table of docs/performance.md in one command (one GPU, about 6 minutes on an H100):
#   bash benchmarks/gpu.sh              # measures, prints the table and splices it into the page
#   bash benchmarks/gpu.sh --dry-run    # the same cases on the tiny stack on the CPU, printed only
# Further options go to benchmarks/gpu.py (--help); --splice FILE writes the table into FILE instead.
set -euo pipefail
cd "$(dirname "$0")/.."
splice=(--splice docs/performance.md)
for arg in "$@"; do
  case "$arg" in --dry-run | --splice | --splice=*) splice=() ;; esac
done
exec "${PYTHON:-python}" benchmarks/gpu.py "${splice[@]}" "$@"
