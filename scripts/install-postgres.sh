#!/usr/bin/env bash
# Installs Debian's PostgreSQL server binaries when they are missing (the tests, the cluster
# script and the benchmark start throwaway servers of their own; no system service is used or
# started). sudo is used only when not running as root.
set -euo pipefail

if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v python3 >/dev/null 2>&1; then
    exit 0
fi
echo "installing: postgresql python3" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql python3 >/dev/null
