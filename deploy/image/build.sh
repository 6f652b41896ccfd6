#!/usr/bin/env bash
# Builds the nexusd container image FROM scratch, without a base image and
# without the network (Go's module proxy aside): Go builds static binaries
# on this host, this script stages them with the host's CA certificates and
# an /etc/passwd and /etc/group naming the image's user (nexusd, 65532),
# then podman builds ../../Containerfile on that context. `make image` runs
# it.
#
# Environment:
#   IMAGE         the tag (default localhost/nexusd:latest)
#   VERSION       the version --version prints and the image's labels carry
#                 (default: none; --version then says devel and the commit)
#   PODMAN_FLAGS  podman's global flags (default --storage-driver vfs)
#   GO            the go command (default go)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
image=${IMAGE:-localhost/nexusd:latest}
version=${VERSION:-}
go=${GO:-go}
read -r -a podman_flags <<<"${PODMAN_FLAGS:---storage-driver vfs}"

if ! command -v podman >/dev/null; then
  echo "build.sh: podman is not installed (Debian: apt-get install podman runc)" >&2
  exit 1
fi
certs=/etc/ssl/certs/ca-certificates.crt
if [ ! -f "$certs" ]; then
  echo "build.sh: $certs is missing (Debian: apt-get install ca-certificates)" >&2
  exit 1
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
rootfs=$ctx/rootfs
mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc/ssl/certs" "$rootfs/run/nexusd"

ldflags="-s -w"
if [ -n "$version" ]; then
  ldflags+=" -X github.com/nexusd/nexusd/internal/buildinfo.Version=$version"
fi
(cd "$root" && CGO_ENABLED=0 GOOS=linux "$go" build -trimpath -buildvcs=auto -ldflags "$ldflags" \
  -o "$rootfs/usr/local/bin/" ./cmd/nexusd ./cmd/nexusd-cli)

cp "$certs" "$rootfs/etc/ssl/certs/ca-certificates.crt"
chmod 0644 "$rootfs/etc/ssl/certs/ca-certificates.crt"
# No shell and no home: the user exists so that the process, the files it
# makes and --app-socket-owner have a name.
printf 'root:x:0:0:root:/root:/sbin/nologin\nnexusd:x:65532:65532:nexusd:/nonexistent:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnexusd:x:65532:\n' >"$rootfs/etc/group"
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"
# The socket directory: the Containerfile gives it to nexusd (mode 0750).
chmod 0750 "$rootfs/run/nexusd"

revision=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
podman "${podman_flags[@]}" build --pull=never --network none --layers=false \
  --build-arg "VERSION=${version:-devel}" --build-arg "REVISION=$revision" \
  -f "$root/Containerfile" -t "$image" "$ctx"
