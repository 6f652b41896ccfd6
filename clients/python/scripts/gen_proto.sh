#!/usr/bin/env bash
# Regenerates the Python stubs under nexusd/_pb/ from proto/sidecar.proto
# (make python-proto). Needs grpc_tools (Debian: python3-grpc-tools).
# protoc writes `import sidecar_pb2`; the stubs live in a package, so the
# import is made package-relative.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$here/../.." && pwd)"
python="${PYTHON:-/usr/bin/python3}"
out="$here/nexusd/_pb"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$python" -m grpc_tools.protoc -I "$root/proto" --python_out="$tmp" --grpc_python_out="$tmp" "$root/proto/sidecar.proto"
sed -i 's/^import sidecar_pb2 as sidecar__pb2$/from . import sidecar_pb2 as sidecar__pb2/' "$tmp/sidecar_pb2_grpc.py"
grep -q '^from \. import sidecar_pb2 as sidecar__pb2$' "$tmp/sidecar_pb2_grpc.py" || {
  echo "gen_proto.sh: could not make the sidecar_pb2 import package-relative" >&2; exit 1; }
mkdir -p "$out"
cp "$tmp/sidecar_pb2.py" "$tmp/sidecar_pb2_grpc.py" "$out/"
[ -f "$out/__init__.py" ] || printf '"""Generated from proto/sidecar.proto by scripts/gen_proto.sh (make python-proto). Do not edit."""\n' >"$out/__init__.py"
echo "python-proto: regenerated ${out#$root/}/sidecar_pb2.py and sidecar_pb2_grpc.py"
