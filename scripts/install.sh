#!/usr/bin/env bash
# Creates .venv and installs realisid with every extra (CPU is enough; no weights are downloaded),
# and Debian's Chromium for the web UI's browser test when it is missing and apt can install it.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[train,test,eval,app,scale,cluster]"
if [ ! -x /usr/bin/chromium ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  if command -v apt-get >/dev/null && $sudo true 2>/dev/null; then
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "install.sh: the browser test (tests/test_app_browser.py) needs /usr/bin/chromium:" \
         "install Debian's chromium as root" >&2
  fi
fi
