#!/usr/bin/env bash
# Installs the Debian 12 packages Island MDS builds, tests and benchmarks
# with. Idempotent: does nothing when every package is already present.
set -euo pipefail

PKGS=(
  build-essential meson ninja-build pkg-config clang llvm
  liblmdb-dev lmdb-utils
  libgrpc-dev protobuf-c-compiler libprotobuf-c-dev
  libssl-dev libuv1-dev libcmocka-dev libjansson-dev libmicrohttpd-dev
  libcurl4-openssl-dev
  python3 python3-grpcio protobuf-compiler python3-protobuf python3-cryptography
  etcd-server etcd-client
  iproute2 nftables
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
