#!/usr/bin/env bash
# Throughput of cluster mode against single-node mode (docs/cluster.md, "Sizing").
#
#   cargo build --release --bins
#   examples/cluster-load.sh single 1      # cluster off, one node
#   examples/cluster-load.sh cluster 3     # one NATS server (nats-server on PATH), three nodes
#
# Starts the nodes on 127.0.0.1:19081.., loads node 1 with leadline-load (closed loop, 64
# concurrent, 20 s, default mix, sends unlimited), then prints the load report, each node's
# CPU ticks (1/100 s) over the run, and each node's cluster lag once settled.
set -u
MODE=${1:?single or cluster}; NODES=${2:-1}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/target/release/leadline}
LOAD=${LOAD:-$ROOT/target/release/leadline-load}
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
TOKEN=leadline-load-twilio-token   # the harness's Twilio token (src/bin/leadline-load.rs)
if [ "$MODE" = cluster ]; then
  nats-server -js -p 15222 -sd "$W/nats" > "$W/nats.log" 2>&1 &
  NATS=$!
  sleep 1
fi
PIDS=()
for i in $(seq 1 "$NODES"); do
  env -i PATH="$PATH" HOME="$HOME" TWILIO_AUTH_TOKEN=$TOKEN \
    LEADLINE__SERVER__BIND=127.0.0.1:$((19080 + i)) LEADLINE__SERVER__PUBLIC_URL=http://127.0.0.1:19081 \
    LEADLINE__SERVER__RATE_LIMIT_PER_IP_PER_SEC=0 LEADLINE__STORAGE__PATH="$W/node$i" \
    LEADLINE__GATEWAY__LIMITS__ACCOUNT_MPS=1000000 LEADLINE__GATEWAY__LIMITS__SENDER_MPS=1000000 \
    LEADLINE__GATEWAY__LIMITS__DAILY_CAP=0 LEADLINE__LOG__FILTER=warn \
    LEADLINE__CLUSTER__ENABLED=$([ "$MODE" = cluster ] && echo true || echo false) \
    LEADLINE__CLUSTER__NATS_URL=nats://127.0.0.1:15222 LEADLINE__CLUSTER__NODE_ID=load-$i \
    "$BIN" --config "$ROOT/config.toml" serve > "$W/node$i.log" 2>&1 &
  PIDS+=($!)
done
for i in $(seq 1 "$NODES"); do
  until curl -sf "localhost:$((19080 + i))/readyz" > /dev/null; do sleep 0.2; done
done
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
declare -A C0
for p in "${PIDS[@]}"; do C0[$p]=$(cpu "$p"); done
"$LOAD" --target http://127.0.0.1:19081 --public-url http://127.0.0.1:19081 --twilio-token $TOKEN \
  --mode closed --concurrency 64 --duration 20 --warmup 3 --no-ceiling | tee "$W/load.txt"
sleep 5   # let every node finish applying
for p in "${PIDS[@]}"; do echo "node pid $p: cpu ticks $(($(cpu "$p") - ${C0[$p]}))"; done
for i in $(seq 1 "$NODES"); do curl -s "localhost:$((19080 + i))/metrics" | grep -E "^leadline_cluster_(lag|snapshots_total)"; done
kill "${PIDS[@]}"; wait "${PIDS[@]}" 2> /dev/null
if [ "$MODE" = cluster ]; then kill "$NATS"; wait "$NATS" 2> /dev/null; fi
