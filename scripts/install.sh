#!/usr/bin/env bash
# Creates .venv and installs realisid with every extra (CPU is enough; no weights are downloaded).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[train,test,eval,app,scale,cluster]"
