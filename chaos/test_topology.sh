#!/usr/bin/env bash
# test_topology.sh TOPOLOGY_SH - tests chaos/topology.sh (suite 'chaos').
#
# Brings up 3 islands with a stand-in server (python's http.server) and
# checks who can reach whom: directly, over the WAN emulator, under each kind
# of partition, after heal; then that `down` leaves no namespace or process
# behind, that a failing `up` tears itself down, and the loopback fallback.
# Exits 77 (meson's skip) when network namespaces cannot be created.
set -uo pipefail
TOPO=$1
PREFIX="mdst$$"
STATE=$(mktemp -d /tmp/mds-topo-test.XXXXXX)/s
SERVER='/usr/bin/python3 -m http.server --bind {addr} {port}'
fails=0

topo() { local a=$1; shift; bash "$TOPO" "$a" --prefix "$PREFIX" --state "$STATE" "$@"; }
cleanup() { topo down >/dev/null 2>&1; rm -rf "$(dirname "$STATE")"; }
trap cleanup EXIT

probe="${PREFIX}probe"
if ! ip netns add "$probe" 2>/dev/null; then
	echo "SKIP: cannot create network namespaces here"
	exit 77
fi
ip netns del "$probe"

# get I HOST:PORT - does an HTTP GET from island I get an answer within 1 s?
get() {
	topo exec "$1" /usr/bin/python3 -c '
import sys, urllib.request
try:
    urllib.request.urlopen("http://" + sys.argv[1] + "/", timeout=1.0)
except Exception:
    sys.exit(1)' "$2" 2>/dev/null
}
expect() { # ok|cut I HOST:PORT WHAT
	local want=$1 got=cut tries=1
	# A reachable peer may answer late on a loaded machine: retry before
	# calling it cut. An unreachable one is tried once (each try costs 1 s).
	[ "$want" = ok ] && tries=4
	while [ $tries -gt 0 ]; do
		if get "$2" "$3"; then got=ok; break; fi
		tries=$((tries - 1))
	done
	if [ "$got" = "$want" ]; then
		echo "pass: $4 ($want)"
	else
		echo "FAIL: $4: want $want, got $got"
		fails=$((fails + 1))
	fi
}
check() { if eval "$1"; then echo "pass: $2"; else echo "FAIL: $2"; fails=$((fails + 1)); fi; }

# ---- network-namespace mode ----
topo up -n 3 --cmd "$SERVER" || { echo "FAIL: up"; exit 1; }
D2=10.77.0.2:7420 D3=10.77.0.3:7420 D1=10.77.0.1:7420
W12=10.77.0.254:7512 W21=10.77.0.254:7521 W23=10.77.0.254:7523 W32=10.77.0.254:7532 W13=10.77.0.254:7513
check "[ \$(ip netns list | grep -c '^$PREFIX') -eq 4 ]" "4 namespaces (hub + 3 islands)"
check "topo exec 1 ip -br addr show eth0 | grep -q 10.77.0.1/24" "island 1 has 10.77.0.1 on eth0"
check "! ip -br addr | grep -q 10.77.0." "the island subnet does not exist on the host"
expect ok 1 $D2 "1->2 direct"
expect ok 1 $W12 "1->2 over the WAN emulator"
expect ok 2 $W23 "2->3 over the WAN emulator"

topo partition full 1 2
expect cut 1 $D2 "full 1 2: 1->2 direct"
expect cut 2 $W21 "full 1 2: 2->1 over the WAN"
expect ok 1 $D3 "full 1 2: 1->3 direct"
topo heal
expect ok 1 $D2 "healed: 1->2 direct"

topo partition oneway 1 2
expect cut 1 $D2 "oneway 1 2: 1->2"
expect ok 3 $D2 "oneway 1 2: 3->2"
expect ok 2 $D3 "oneway 1 2: 2->3"
topo heal

topo partition bridge 1 2 3
expect ok 1 $D2 "bridge 1 2 3: 1->2"
expect ok 1 $W13 "bridge 1 2 3: 1->3 over the WAN"
expect cut 2 $D3 "bridge 1 2 3: 2->3"
expect cut 3 $W32 "bridge 1 2 3: 3->2 over the WAN"
topo heal
expect ok 2 $D3 "healed: 2->3"

topo partition --wan full 1 2
expect cut 1 $W12 "wan full 1 2: 1->2 over the WAN"
expect ok 1 $D2 "wan full 1 2: 1->2 direct still works"
expect ok 1 $W13 "wan full 1 2: 1->3 over the WAN"
topo heal
expect ok 1 $W12 "healed: 1->2 over the WAN"
check "! topo partition full 1 7 2>/dev/null" "partition with an unknown island is refused"

pids=$(cat "$STATE"/i*/pid "$STATE"/wanem.pid)
topo down
check "[ \$(ip netns list | grep -c '^$PREFIX') -eq 0 ]" "down removes every namespace"
alive=0
for p in $pids; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
check "[ $alive -eq 0 ]" "down stops islands and wanem ($alive left)"
check "topo down" "down twice is harmless"

# a failing island makes `up` fail and tear itself down
check "! topo up -n 2 --cmd 'echo broken; exit 1' 2>/dev/null" "up fails when an island does not start"
check "[ \$(ip netns list | grep -c '^$PREFIX') -eq 0 ] && [ ! -e '$STATE/env' ]" "failed up leaves nothing behind"

# ---- loopback fallback ----
out=$(topo up -n 2 --loopback --cmd "$SERVER" 2>&1)
check "echo '$out' | grep -q 'mode=loopback-fallback'" "loopback fallback is reported"
expect ok 1 127.0.2.1:7502 "loopback: 1->2 over the WAN emulator"
topo partition full 1 2 2>/dev/null; rc=$?
check "[ $rc -eq 3 ]" "loopback: kernel partition refused with exit 3"
topo partition --wan full 1 2
expect cut 1 127.0.2.1:7502 "loopback: wan full 1 2"
expect cut 2 127.0.2.2:7501 "loopback: wan full 1 2: 2->1"
topo heal
expect ok 1 127.0.2.1:7502 "loopback: healed"
topo down

echo "failures: $fails"
[ "$fails" -eq 0 ]
