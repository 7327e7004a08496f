#!/usr/bin/env bash
# Brings up one island on the embedded default: data under ./var/mds,
# gRPC on 127.0.0.1:7420, metrics/health on 127.0.0.1:7421, plaintext on
# loopback, a local token issuer generated on first start with the
# island-admin token in ./var/mds/admin.token (which mdsctl, run from this
# directory, reads by default). Extra arguments go to `mds serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
meson compile -C build >/dev/null
exec build/mds/mds serve "$@"
