#!/usr/bin/env bash
# Starts N bilevel cluster nodes (separate JVMs) on 127.0.0.1 with free ports, runs one training on them,
# waits for it to finish, and stops them.
#
#   deploy/local-cluster.sh N [--config FILE] [--out DIR] [further bilevel node options, e.g. --set k=v]
#
# Node 1 has the roles optimizer and solver (it writes the run folder); nodes 2..N are solvers. Each node
# runs runtime.solvers solver actors (default here: 1, so N nodes use N cores). Logs: DIR/node-<i>.log.
# The training starts when all N nodes have joined (--min-nodes N) and their N solvers have asked for work
# (--min-solvers N). Ctrl-C stops every node gracefully (the optimizer node writes a checkpoint); running
# the script again with the same --out continues the run from it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
n="${1:-}"
case "$n" in ''|*[!0-9]*) echo "usage: $0 N [--config FILE] [--out DIR] [bilevel node options]" >&2; exit 2 ;; esac
[ "$n" -ge 1 ] || { echo "N must be at least 1" >&2; exit 2; }
shift
out="runs/cluster-$(date +%Y%m%d-%H%M%S)"
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="$2"; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
mkdir -p "$(dirname "$out")"
logs="$out.logs"
mkdir -p "$logs"

free_port() {
    # below Linux's ephemeral range, so that outgoing connections do not take it before the node binds it
    python3 -c '
import random, socket
for _ in range(200):
    p = random.randrange(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()'
}
ports=()
for i in $(seq 1 "$n"); do ports+=("$(free_port)"); done
seed="127.0.0.1:${ports[0]}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

# build once (if needed) before N launchers start in parallel
"$here/bilevel" --version >/dev/null

# the logs are appended to (a continued run keeps its history): report only what this start wrote
offsets=()
for i in $(seq 1 "$n"); do offsets+=("$(stat -c %s "$logs/node-$i.log" 2>/dev/null || echo 0)"); done
this_start() { tail -c +$(( ${offsets[$(( $1 - 1 ))]} + 1 )) "$logs/node-$1.log"; }

pids=()
stopped=""
stop_all() {
    stopped="$1"
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
}
trap 'stop_all INT' INT
trap 'stop_all TERM' TERM

"$here/bilevel" node --roles optimizer,solver --host 127.0.0.1 --port "${ports[0]}" --seeds "$seed" \
    --min-nodes "$n" --min-solvers "$n" --solvers 1 --out "$out" ${args[@]+"${args[@]}"} >>"$logs/node-1.log" 2>&1 &
pids+=($!)
for i in $(seq 2 "$n"); do
    "$here/bilevel" node --roles solver --host 127.0.0.1 --port "${ports[$((i - 1))]}" --seeds "$seed" \
        --min-nodes "$n" --solvers 1 ${args[@]+"${args[@]}"} >>"$logs/node-$i.log" 2>&1 &
    pids+=($!)
done
echo "started $n nodes (ports ${ports[*]}); run folder $out, logs $logs"

rc=0
for i in "${!pids[@]}"; do
    while :; do
        status=0
        wait "${pids[$i]}" || status=$?
        # a trapped Ctrl-C/SIGTERM interrupts wait (status > 128) while the node is still leaving: wait again,
        # so that the script never returns before every node (the optimizer's last checkpoint) is done
        if [ "$status" -gt 128 ] && kill -0 "${pids[$i]}" 2>/dev/null; then
            continue
        fi
        break
    done
    # 143: the node's JVM ended on the SIGTERM this script sent it (after its graceful leave)
    if [ "$status" -ne 0 ] && ! { [ -n "$stopped" ] && [ "$status" -eq 143 ]; }; then
        echo "node $((i + 1)) exited with code $status (see $logs/node-$((i + 1)).log)" >&2
        rc=1
    fi
done
for i in $(seq 1 "$n"); do this_start "$i" | grep -h "this node computed" || true; done
this_start 1 | grep -h "^steps " || true
if [ -n "$stopped" ]; then
    echo "stopped (SIG$stopped): every node has left; run this script again with --out $out to continue the run" >&2
    [ "$stopped" = INT ] && exit 130
    exit 143
fi
exit $rc
