#!/usr/bin/env bash
# A local 3-master Redis Cluster on loopback, for test/redis-cluster.multi-instance.test.ts and for
# trying VERITY_REDIS_CLUSTER=true by hand:
#   scripts/redis-cluster.sh start   # idempotent; prints REDIS_URL's seed list, e.g. redis://127.0.0.1:7101,redis://…
#   scripts/redis-cluster.sh stop    # idempotent; the nodes' data is thrown away
# Settings (environment): REDIS_CLUSTER_PORTS ("7101 7102 7103"), REDIS_CLUSTER_DIR (node configs,
# pid files and logs; default a directory under the system temp dir).
set -euo pipefail
read -r -a ports <<<"${REDIS_CLUSTER_PORTS:-7101 7102 7103}"
dir=${REDIS_CLUSTER_DIR:-${TMPDIR:-/tmp}/verity-redis-cluster-${ports[0]}}
server=$(command -v redis-server || echo /usr/bin/redis-server)

url() { local IFS=,; local u=(); for p in "${ports[@]}"; do u+=("redis://127.0.0.1:$p"); done; echo "${u[*]}"; }
healthy() { redis-cli -h 127.0.0.1 -p "${ports[0]}" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }
running() {
  for p in "${ports[@]}"; do [ -s "$dir/$p.pid" ] && kill -0 "$(cat "$dir/$p.pid")" 2>/dev/null || return 1; done
}
stop() {
  for p in "${ports[@]}"; do
    if [ -s "$dir/$p.pid" ]; then
      pid=$(cat "$dir/$p.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  done
  rm -rf "$dir"
}

case "${1:-}" in
  start)
    if running && healthy; then url; exit 0; fi
    [ -x "$server" ] || { echo "redis-server is not installed (Debian: apt-get install redis-server)" >&2; exit 1; }
    # Half-started or broken (a node died, a node config from an older run): start over from nothing.
    stop
    mkdir -p "$dir"
    for p in "${ports[@]}"; do
      # Test nodes: no persistence (--save "", no AOF), loopback only; each keeps its cluster state
      # (node id, slots) in a file of its own.
      "$server" --port "$p" --bind 127.0.0.1 --daemonize yes --dir "$dir" \
        --cluster-enabled yes --cluster-config-file "$dir/nodes-$p.conf" --cluster-node-timeout 5000 \
        --save "" --appendonly no --pidfile "$dir/$p.pid" --logfile "$dir/$p.log"
    done
    for p in "${ports[@]}"; do
      for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
    done
    nodes=()
    for p in "${ports[@]}"; do nodes+=("127.0.0.1:$p"); done
    # Three masters, no replicas: the slots are split in three; --cluster-yes accepts the plan.
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 ||
      { echo "redis-cli --cluster create failed; log: $dir/create.log" >&2; tail -5 "$dir/create.log" >&2; exit 1; }
    # Every node must agree the cluster is up (the gossip takes a moment after create).
    for _ in $(seq 1 100); do
      ok=1
      for p in "${ports[@]}"; do redis-cli -h 127.0.0.1 -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || ok=0; done
      [ "$ok" = 1 ] && break
      sleep 0.1
    done
    [ "$ok" = 1 ] || { echo "the cluster did not reach cluster_state:ok; logs: $dir/*.log" >&2; exit 1; }
    url
    ;;
  stop)
    stop
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
