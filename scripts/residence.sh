#!/bin/sh
# residence.sh measures where a message's time goes inside the daemon at a
# low rate: it runs the harness's latency-10k-packed scenario (10k msg/s,
# packed path, one daemon on loopback serving pprof on 127.0.0.1:16060),
# takes a 1 s Go execution trace of the daemon while the load runs, and
# prints nexusd-bench residence's reading of it: the time from the read
# that woke the daemon to the end of the write that hands the message on,
# and each goroutine hand-over and system call on the way (bench/residence.go).
# About 15 s; sends nothing beyond 127.0.0.1.
#
# Usage: scripts/residence.sh   (make bench-residence)   Needs bin/nexusd
# built and port 16060 free. TRACE_OUT keeps the trace in that file.
set -eu
cd "$(dirname "$0")/.."
GO=${GO:-go}
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd bench && $GO build -o "$work/nexusd-bench" .)
cat > "$work/nexusd" <<WRAP
#!/bin/sh
exec "$root/bin/nexusd" "\$@" --http-addr 127.0.0.1:16060
WRAP
chmod +x "$work/nexusd"

"$work/nexusd-bench" measure --id latency-10k-packed --system nexusd --nexusd "$work/nexusd" --dur 6s >"$work/run.out" 2>&1 &
run=$!
sleep 3
curl -sf -o "$work/daemon.trace" "http://127.0.0.1:16060/debug/pprof/trace?seconds=1" || true
if ! wait "$run"; then
	cat "$work/run.out" >&2
	echo "residence.sh: the run failed" >&2
	exit 1
fi
if [ ! -s "$work/daemon.trace" ]; then
	echo "residence.sh: no trace from the daemon on port 16060" >&2
	exit 1
fi
echo "latency-10k-packed, this run: $(tail -n 1 "$work/run.out")"
"$work/nexusd-bench" residence "$work/daemon.trace"
if [ -n "${TRACE_OUT:-}" ]; then
	cp "$work/daemon.trace" "$TRACE_OUT"
fi
