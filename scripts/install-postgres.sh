#!/usr/bin/env bash
# Installs what the test command needs beyond install-deps.sh, only when missing: Debian's
# PostgreSQL server binaries (the tests, the cluster script and the benchmark start throwaway
# servers of their own; no system service is used) and python3 with venv (raw-socket tests,
# free ports, and schemathesis in a virtual environment). sudo only when not root.
set -euo pipefail

missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ "${#missing[@]}" -eq 0 ]; then exit 0; fi
echo "installing: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
