#!/usr/bin/env bash
# topology.sh - several Island MDS islands on one machine, joined through the
# WAN emulator, with partitions at the kernel level (nftables) or on the WAN.
#
#   topology.sh up [-n N] [--cmd CMD] [--loopback] [--prefix P] [--state DIR]
#   topology.sh partition [--wan] full A B | oneway A B | bridge A B C
#   topology.sh heal
#   topology.sh status
#   topology.sh exec I COMMAND...        (run COMMAND inside island I's namespace)
#   topology.sh down
#
# Layout (network-namespace mode, the default):
#   - namespace ${P}hub holds bridge br0 (10.77.0.254/24) and runs wanem;
#   - namespace ${P}iI holds island I: eth0 = 10.77.0.I/24, a veth whose peer
#     sits on br0 in the hub. The subnet exists only inside these namespaces;
#     the host's network is never touched.
#   - island I serves on 10.77.0.I:7420 and reaches island J over the WAN at
#     10.77.0.254:(7500 + 10*I + J), wanem link "iI-iJ" (upstream 10.77.0.J:7420).
# Loopback fallback (--loopback, or when `ip netns add` fails): island I on
#   127.0.1.I:7420, link iI-iJ on 127.0.2.I:(7500 + J). Only WAN partitions
#   (--wan) exist then; kernel partitions exit 3.
#
# CMD is run once per island through `sh -c` (inside its namespace) with
# {i} {name} {addr} {port} {data} {peers} replaced; {peers} is
# "iJ=HOST:PORT,..." for the WAN path to every other island. The default
# is the island server: build/mds/mds serve --data {data} --listen {addr}:{port} --http {addr}:7421 --insecure --auth-mode dev.
#
# Partitions, between islands A and B (numbers):
#   full A B      nothing passes between A and B, either way;
#   oneway A B    packets from A to B are dropped (B's packets to A pass; TCP
#                 connections between them stall, as on a real asymmetric cut);
#   bridge A B C  A sees B and C, B and C cannot see each other;
#   --wan         cut the wanem links instead (link set partition=on): open
#                 connections stall and resume on heal, new ones are black-holed.
# Kernel partitions cover the direct path (10.77.0.B) and the WAN path (A's
# link port on the hub). `heal` removes every partition of both kinds.
#
# State (pids, logs, data dirs, wanem socket) lives in --state (default
# /tmp/mds-topology). `down` works from any state, also after a failed `up`
# (which tears itself down through a trap): it kills what the state names and
# deletes every namespace whose name starts with the prefix.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=3
PREFIX=${TOPO_PREFIX:-mdsc}
STATE=${TOPO_STATE:-/tmp/mds-topology}
CMD=""
LOOPBACK=0
SUBNET=10.77.0
PORT=7420
WANEM=${WANEM:-$ROOT/build/chaos/wanem}
WANEMCTL=${WANEMCTL:-$ROOT/build/chaos/wanemctl}

log() { echo "topology: $*" >&2; }
die() { log "error: $*"; exit 1; }

parse_common() {
	while [ $# -gt 0 ]; do
		case "$1" in
		-n) N=$2; shift 2 ;;
		--cmd) CMD=$2; shift 2 ;;
		--loopback) LOOPBACK=1; shift ;;
		--prefix) PREFIX=$2; shift 2 ;;
		--state) STATE=$2; shift 2 ;;
		*)
			if [ "$ACTION" = exec ] && [ ${#ARGS[@]} -ge 1 ]; then
				ARGS+=("$@"); break   # the command run by exec keeps its own options
			fi
			ARGS+=("$1"); shift ;;
		esac
	done
}

load_state() {
	[ -f "$STATE/env" ] || die "no topology state in '$STATE' (run up first)"
	# shellcheck disable=SC1091
	. "$STATE/env"
}

ns_hub() { echo "${PREFIX}hub"; }
ns_island() { echo "${PREFIX}i$1"; }
island_addr() { if [ "$MODE" = netns ]; then echo "$SUBNET.$1"; else echo "127.0.1.$1"; fi; }
wan_host() { if [ "$MODE" = netns ]; then echo "$SUBNET.254"; else echo "127.0.2.$1"; fi; }
wan_port() { if [ "$MODE" = netns ]; then echo $((7500 + 10 * $1 + $2)); else echo $((7500 + $2)); fi; }
in_island() { # I CMD... : run inside island I's namespace (or directly on loopback)
	local i=$1; shift
	if [ "$MODE" = netns ]; then ip netns exec "$(ns_island "$i")" "$@"; else "$@"; fi
}
in_hub() { if [ "$MODE" = netns ]; then ip netns exec "$(ns_hub)" "$@"; else "$@"; fi; }

can_netns() {
	local probe="${PREFIX}probe$$"
	if ip netns add "$probe" 2>/dev/null; then
		ip netns del "$probe"
		return 0
	fi
	return 1
}

port_open() { # I HOST PORT : can island I connect to HOST:PORT?
	in_island "$1" timeout 1 bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null
}

kill_pidfile() {
	local f=$1 pid
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL -- "-$pid" 2>/dev/null || true
	fi
	rm -f "$f"
}

cmd_down() {
	local f ns
	if [ -d "$STATE" ]; then
		for f in "$STATE"/i*/pid "$STATE"/wanem.pid; do kill_pidfile "$f"; done
	fi
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${PREFIX}" || true); do
		ip netns del "$ns" 2>/dev/null || log "cannot delete namespace $ns"
	done
	rm -rf "$STATE"
	log "down (prefix $PREFIX)"
}

start_bg() { # PIDFILE LOGFILE CMD... : start CMD in its own session
	local pidf=$1 logf=$2; shift 2
	setsid "$@" >"$logf" 2>&1 </dev/null &
	echo $! >"$pidf"
}

cmd_up() {
	local i j reason="" peers ns c
	[[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 2 ] && [ "$N" -le 9 ] || die "-n must be 2..9, got '$N'"
	[ -x "$WANEM" ] || die "no wanem binary at '$WANEM' (build first, or set WANEM)"
	[ ! -e "$STATE/env" ] || die "a topology is already up in '$STATE' (run down first)"
	MODE=netns
	if [ "$LOOPBACK" = 1 ]; then
		MODE=loopback; reason="asked for with --loopback"
	elif ! can_netns; then
		MODE=loopback; reason="cannot create network namespaces here"
	fi
	[ -n "$CMD" ] || CMD="$ROOT/build/mds/mds serve --data {data} --listen {addr}:{port} --http {addr}:7421 --insecure --auth-mode dev"
	mkdir -p "$STATE"
	trap 'rc=$?; if [ $rc -ne 0 ]; then log "up failed, tearing down"; cmd_down; fi' EXIT
	printf 'MODE=%s\nN=%s\nPREFIX=%s\nSUBNET=%s\nPORT=%s\nREASON=%q\n' \
		"$MODE" "$N" "$PREFIX" "$SUBNET" "$PORT" "$reason" >"$STATE/env"
	if [ "$MODE" = loopback ]; then
		log "mode=loopback-fallback reason=\"$reason\": no kernel partitions, WAN emulator only"
	else
		ns=$(ns_hub)
		ip netns add "$ns"
		ip -n "$ns" link set lo up
		ip -n "$ns" link add br0 type bridge
		ip -n "$ns" addr add "$SUBNET.254/24" dev br0
		ip -n "$ns" link set br0 up
		for i in $(seq "$N"); do
			ip netns add "$(ns_island "$i")"
			ip -n "$(ns_island "$i")" link set lo up
			ip -n "$ns" link add "v$i" type veth peer name eth0 netns "$(ns_island "$i")"
			ip -n "$ns" link set "v$i" master br0 up
			ip -n "$(ns_island "$i")" addr add "$SUBNET.$i/24" dev eth0
			ip -n "$(ns_island "$i")" link set eth0 up
		done
		log "mode=netns islands=$N subnet=$SUBNET.0/24 hub=$ns"
	fi
	if [ "$MODE" = netns ]; then
		start_bg "$STATE/wanem.pid" "$STATE/wanem.log" \
			ip netns exec "$(ns_hub)" "$WANEM" --control "$STATE/wanem.sock"
	else
		start_bg "$STATE/wanem.pid" "$STATE/wanem.log" "$WANEM" --control "$STATE/wanem.sock"
	fi
	for _ in $(seq 50); do "$WANEMCTL" -s "$STATE/wanem.sock" ping >/dev/null 2>&1 && break; sleep 0.1; done
	"$WANEMCTL" -s "$STATE/wanem.sock" ping >/dev/null || die "wanem did not start (see $STATE/wanem.log)"
	for i in $(seq "$N"); do
		for j in $(seq "$N"); do
			[ "$i" != "$j" ] || continue
			"$WANEMCTL" -s "$STATE/wanem.sock" link add "i$i-i$j" \
				"$(wan_host "$i"):$(wan_port "$i" "$j")" "$(island_addr "$j"):$PORT" >/dev/null
		done
	done
	for i in $(seq "$N"); do
		mkdir -p "$STATE/i$i/data"
		peers=""
		for j in $(seq "$N"); do
			[ "$i" != "$j" ] || continue
			peers="${peers:+$peers,}i$j=$(wan_host "$i"):$(wan_port "$i" "$j")"
		done
		c=${CMD//\{i\}/$i}
		c=${c//\{name\}/i$i}
		c=${c//\{addr\}/$(island_addr "$i")}
		c=${c//\{port\}/$PORT}
		c=${c//\{data\}/$STATE/i$i/data}
		c=${c//\{peers\}/$peers}
		echo "$c" >"$STATE/i$i/cmd"
		if [ "$MODE" = netns ]; then
			start_bg "$STATE/i$i/pid" "$STATE/i$i/log" ip netns exec "$(ns_island "$i")" sh -c "$c"
		else
			start_bg "$STATE/i$i/pid" "$STATE/i$i/log" sh -c "$c"
		fi
	done
	for i in $(seq "$N"); do
		local ok=0
		for _ in $(seq 100); do
			if port_open "$i" "$(island_addr "$i")" "$PORT"; then ok=1; break; fi
			kill -0 "$(cat "$STATE/i$i/pid")" 2>/dev/null || break
			sleep 0.1
		done
		[ "$ok" = 1 ] || die "island $i is not listening on $(island_addr "$i"):$PORT (log: $STATE/i$i/log: $(tail -c 300 "$STATE/i$i/log" 2>/dev/null))"
	done
	trap - EXIT
	log "up: $N islands; wanem control socket $STATE/wanem.sock"
	cmd_status
}

nft_island() { # I RULES... : add rules to island I's table
	local i=$1; shift
	in_island "$i" nft -f - <<-EOF2
	table inet chaos {
		chain out { type filter hook output priority 0; policy accept; }
		chain in { type filter hook input priority 0; policy accept; }
	}
	$*
	EOF2
}

cut_from() { # A B : drop packets from A to B, direct and over the WAN link A->B
	local a=$1 b=$2
	nft_island "$a" "add rule inet chaos out ip daddr $(island_addr "$b") drop
add rule inet chaos out ip daddr $(wan_host "$a") tcp dport $(wan_port "$a" "$b") drop"
	nft_island "$b" "add rule inet chaos in ip saddr $(island_addr "$a") drop"
}

wan_set() { # A B VALUE
	"$WANEMCTL" -s "$STATE/wanem.sock" link set "i$1-i$2" "partition=$3" >/dev/null
}

check_island() { [[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le "$N" ] || die "no island '$1' (1..$N)"; }

cmd_partition() {
	local wan=0 kind
	load_state
	if [ "${1:-}" = --wan ]; then wan=1; shift; fi
	kind=${1:-}
	shift || true
	case "$kind" in
	full|oneway) [ $# -eq 2 ] || die "want: partition [--wan] $kind A B" ;;
	bridge) [ $# -eq 3 ] || die "want: partition [--wan] bridge A B C" ;;
	*) die "unknown partition '$kind': want full, oneway or bridge" ;;
	esac
	for x in "$@"; do check_island "$x"; done
	if [ "$wan" = 0 ] && [ "$MODE" != netns ]; then
		log "kernel partitions need network namespaces; this topology is in loopback fallback ($REASON); use --wan"
		exit 3
	fi
	case "$kind" in
	full) set -- "$1" "$2" ;;
	oneway) ;;
	bridge) set -- "$2" "$3"; kind=full ;;
	esac
	if [ "$wan" = 1 ]; then
		wan_set "$1" "$2" on
		[ "$kind" = oneway ] || wan_set "$2" "$1" on
	else
		cut_from "$1" "$2"
		[ "$kind" = oneway ] || cut_from "$2" "$1"
	fi
	log "partition $([ $wan = 1 ] && echo wan || echo kernel) $kind $*"
}

cmd_heal() {
	local i j
	load_state
	for i in $(seq "$N"); do
		[ "$MODE" != netns ] || in_island "$i" nft delete table inet chaos 2>/dev/null || true
		for j in $(seq "$N"); do
			[ "$i" = "$j" ] || wan_set "$i" "$j" off
		done
	done
	log "healed"
}

cmd_status() {
	local i alive
	load_state
	echo "mode=$MODE islands=$N prefix=$PREFIX${REASON:+ reason=\"$REASON\"}"
	for i in $(seq "$N"); do
		alive=dead
		kill -0 "$(cat "$STATE/i$i/pid" 2>/dev/null || echo 0)" 2>/dev/null && alive=running
		echo "island=i$i addr=$(island_addr "$i"):$PORT state=$alive log=$STATE/i$i/log"
	done
	echo "wanem control=$STATE/wanem.sock (wanemctl -s $STATE/wanem.sock link show)"
}

[ $# -ge 1 ] || { sed -n '2,20p' "$0"; exit 2; }
ACTION=$1; shift
ARGS=()
parse_common "$@"
set -- "${ARGS[@]+"${ARGS[@]}"}"
case "$ACTION" in
up) cmd_up ;;
down) cmd_down ;;
partition) cmd_partition "$@" ;;
heal) cmd_heal ;;
status) cmd_status ;;
exec) load_state; check_island "${1:-x}"; i=$1; shift; in_island "$i" "$@" ;;
*) die "unknown action '$ACTION': want up, down, partition, heal, status or exec" ;;
esac
