#!/bin/sh
# pgo.sh regenerates cmd/nexusd/default.pgo, the CPU profile Go's
# profile-guided optimisation builds the daemon with (go build picks it up
# by itself). It runs the benchmark harness's busiest nexusd scenarios one
# after another, each against fresh daemons on loopback that serve pprof on
# 127.0.0.1:16060 (and :16061 for the second daemon of a cross-node run),
# takes an 8 s CPU profile of every daemon while the load runs, and merges
# them. About 2 minutes; sends nothing beyond 127.0.0.1.
#
# Usage: scripts/pgo.sh   (make pgo)   Needs bin/nexusd built, and ports
# 16060-16061 free. PGO_OUT names another file to write instead.
set -eu
cd "$(dirname "$0")/.."
GO=${GO:-go}
out=${PGO_OUT:-cmd/nexusd/default.pgo}
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd bench && $GO build -o "$work/nexusd-bench" .)

# The harness starts the daemons through this wrapper, which gives the
# first daemon of a run port 16060 and the second 16061.
cat > "$work/nexusd" <<EOF
#!/bin/sh
if mkdir "$work/port-a" 2>/dev/null; then port=16060; else port=16061; fi
exec "$root/bin/nexusd" "\$@" --http-addr 127.0.0.1:\$port
EOF
chmod +x "$work/nexusd"

profile() { # profile ID DAEMONS: one run of scenario ID, a profile per daemon
	id=$1 daemons=$2
	rm -rf "$work/port-a"
	"$work/nexusd-bench" measure --id "$id" --system nexusd --nexusd "$work/nexusd" --dur 13s >"$work/$id.out" 2>&1 &
	run=$!
	sleep 3
	port=16060
	while [ "$port" -lt $((16060 + daemons)) ]; do
		$GO tool pprof -proto -seconds 8 "http://127.0.0.1:$port/debug/pprof/profile" >"$work/$id-$port.pprof" 2>/dev/null &
		port=$((port + 1))
	done
	if ! wait "$run"; then
		cat "$work/$id.out" >&2
		echo "pgo.sh: the run of $id failed" >&2
		exit 1
	fi
	wait
	port=16060
	while [ "$port" -lt $((16060 + daemons)) ]; do
		if [ ! -s "$work/$id-$port.pprof" ]; then
			echo "pgo.sh: no profile from the daemon on port $port during $id" >&2
			exit 1
		fi
		port=$((port + 1))
	done
	echo "profiled $id: $(tail -n 1 "$work/$id.out")"
}

profile local-1to1-packed 1
profile local-1to1-stream 1
profile fanout-1to10 1
profile local-1to1-client-library 1
profile cross-node-packed 2
profile cross-node 2

$GO tool pprof -proto "$work"/*.pprof >"$work/merged.pgo" 2>/dev/null
mv "$work/merged.pgo" "$out"
echo "wrote $out ($(wc -c <"$out") bytes)"
