#!/bin/sh
# rpc_protoc.sh - run protoc-c on the mds.v1 wire contract and leave flat
# outputs (types.pb-c.c, ...) in OUTDIR, as meson's custom_target needs.
# The generated files include each other as "mds/v1/x.pb-c.h"; the copies
# here include "x.pb-c.h" instead, so one include directory (OUTDIR) works.
# usage: rpc_protoc.sh PROTOC_C OUTDIR PROTO_ROOT PROTO...
set -eu
protoc_c=$1; outdir=$(realpath "$2"); root=$3; shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$(realpath "$root")
rel=""
for p in "$@"; do p=$(realpath "$p"); rel="$rel ${p#"$root/"}"; done
# protoc wants names relative to --proto_path, spelled exactly.
cd "$root"
# shellcheck disable=SC2086
"$protoc_c" --proto_path=. --c_out="$tmp" $rel
cd - >/dev/null
for f in "$tmp"/mds/v1/*.pb-c.c "$tmp"/mds/v1/*.pb-c.h; do
  sed -e 's|#include "mds/v1/\([a-z_]*\.pb-c\.h\)"|#include "\1"|' "$f" \
    > "$outdir/$(basename "$f")"
done
