#!/usr/bin/env bash
# Stops the demo cluster scripts/demo-start.sh started (make demo-stop):
# SIGTERM to each daemon by its recorded pid, then waits for it to exit.
set -euo pipefail
cd "$(dirname "$0")/.."

dir=.run/demo
stopped=0
for f in "$dir"/node*.pid; do
  [ -e "$f" ] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null && grep -q nexusd "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    stopped=$((stopped + 1))
  fi
  rm -f "$f"
done
echo "demo: stopped $stopped daemon(s); logs remain in $dir/"
