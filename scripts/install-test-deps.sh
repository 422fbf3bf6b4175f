#!/usr/bin/env bash
# Install the real TLS peers the interop tests drive (Debian packages).
# Idempotent: does nothing (and prints nothing) when every command exists.
set -euo pipefail

# command -> Debian package that provides it
declare -A PKG_FOR=(
  [openssl]=openssl
  [gnutls-cli]=gnutls-bin
  [curl]=curl
  [python3]=python3
  [tshark]=tshark
  [chromium]=chromium
  [redis-server]=redis-server
  [redis-cli]=redis-tools
  [nginx]=nginx
  [pkg-config]=pkg-config
)

missing=()
for cmd in "${!PKG_FOR[@]}"; do
  # nginx lives in /usr/sbin, which a non-root PATH may lack.
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${PKG_FOR[$cmd]}")
done
# TLS to Redis (the redis crate's native-tls) links OpenSSL: its headers for the build.
[ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: missing ${missing[*]}; run as root to install" >&2
  exit 1
fi

echo "install-test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# tshark's wireshark-common asks whether non-root users may capture; answer no up front.
if command -v debconf-set-selections >/dev/null 2>&1; then
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
fi
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
