#!/usr/bin/env bash
# Starts a three-node NexusD cluster on this machine (make demo). Discovery
# runs over loopback multicast (--mcast-iface lo), so nothing leaves the host.
# The daemons share a cluster key made for the demo (nexusd keygen), so
# their beacons are signed and their mesh is mutual TLS, as in production.
# Logs, pids and the key go to .run/demo/; scripts/demo-stop.sh (make
# demo-stop) ends it.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=bin/nexusd
dir=.run/demo
mkdir -p "$dir"
if ls "$dir"/*.pid >/dev/null 2>&1; then
  echo "demo: a demo cluster seems to be running already (see $dir); run 'make demo-stop' first" >&2
  exit 1
fi

key=$dir/cluster.key
if [ ! -e "$key" ]; then
  "$bin" keygen --out "$key"
fi

for i in 1 2 3; do
  "$bin" --cluster demo --cluster-key "$key" --mcast-iface lo --bind 127.0.0.1 \
    --mesh-port "7${i}01" --app-port "7${i}02" --http-addr "127.0.0.1:808${i}" \
    >"$dir/node$i.log" 2>&1 &
  echo $! >"$dir/node$i.pid"
done

# Wait until node 1 sees the other two (its status page reports them).
for _ in $(seq 1 50); do
  if command -v curl >/dev/null && [ "$(curl -fsS http://127.0.0.1:8081/api/status 2>/dev/null | grep -c '"status": "alive"')" = 2 ]; then
    meshed=1
    break
  fi
  sleep 0.1
done

cat <<MSG
demo: three nexusd daemons are running (cluster "demo", key $key, logs in $dir/):
  node 1: status page http://127.0.0.1:8081/  sidecar 127.0.0.1:7102  mesh :7101
  node 2: status page http://127.0.0.1:8082/  sidecar 127.0.0.1:7202  mesh :7201
  node 3: status page http://127.0.0.1:8083/  sidecar 127.0.0.1:7302  mesh :7301
${meshed:+demo: they have found each other.}
Try it with the CLI (go build -o bin/nexusd-cli ./cmd/nexusd-cli), in two terminals:
  bin/nexusd-cli -p 7302 SUBSCRIBE 'demo/#'
  bin/nexusd-cli -p 7102 PUBLISH demo/hello hi
or interactively: bin/nexusd-cli, then DISCOVER --mcast-iface lo and CONNECT -n 1.
Stop it with: make demo-stop
MSG
