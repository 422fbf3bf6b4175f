#!/usr/bin/env bash
# Install the real TLS peers the interop tests drive (Debian packages).
# Idempotent: does nothing (and prints nothing) when every command exists. Also installs
# Python's grpcio from PyPI when python3 lacks it.
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
  [systemd-socket-activate]=systemd
)

missing=()
for cmd in "${!PKG_FOR[@]}"; do
  # nginx lives in /usr/sbin, which a non-root PATH may lack.
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing+=("${PKG_FOR[$cmd]}")
done
# TLS to Redis (the redis crate's native-tls) links OpenSSL: its headers for the build.
[ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)

# The gRPC test (cli/tests/terminator_faults.rs) runs a Python grpcio server and client, from
# PyPI for whichever python3 is first on PATH.
install_grpcio() {
  python3 -c 'import grpc' >/dev/null 2>&1 && return 0
  echo "install-test-deps: installing grpcio (pip)" >&2
  if ! python3 -m pip --version >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
  fi
  python3 -m pip install -q --disable-pip-version-check grpcio >/dev/null 2>&1 ||
    python3 -m pip install -q --disable-pip-version-check --break-system-packages grpcio >/dev/null
}

if [ "${#missing[@]}" -eq 0 ]; then
  install_grpcio
  exit 0
fi

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
install_grpcio
