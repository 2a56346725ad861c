#!/usr/bin/env bash
# Installs what SecureNotes needs on Debian/Ubuntu, only when it is missing:
# the C libraries the package links (OpenSSL, SQLite, GNU readline), the tools the
# tutorial and the demo use (curl, jq), and Python with PyJWT for the README's
# "From node's jsonwebtoken" snippet (python3-jwt, python3-cryptography for RS256).
# sudo is used only when not running as root.
set -euo pipefail

packages=(libssl-dev libsqlite3-dev libreadline-dev pkg-config curl jq python3 python3-jwt python3-cryptography)
missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "error: no Swift toolchain on PATH; install Swift 6 from https://www.swift.org/install/linux/" >&2
    exit 1
fi
