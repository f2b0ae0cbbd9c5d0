#!/usr/bin/env bash
# images.sh - build the lab cluster's container images offline, as OCI archives that
# each node's containerd imports (`ctr images import`). No registry is involved.
#
#   lab/k8s/images.sh OUTDIR
#
# Writes OUTDIR/{pause,backend,herald}.tar (OCI image layouts, tar'ed), each image a
# single layer on an empty base (FROM scratch), built with umoci:
#   pause    herald.test/pause:v1.20.2   the pause binary scripts/kube-testenv.sh builds
#                                        from Kubernetes' build/pause (the sandbox image)
#   backend  herald.test/backend:lab     lab/k8s/images/backend.c, static: answers HTTP
#                                        with its pod's name
#   herald   herald.test/herald:lab      herald-controller and herald-speaker from
#                                        $HERALD_BIN_DIR (default target/release) with the
#                                        shared libraries they link (glibc, libgcc), user
#                                        65532 as the Dockerfile's image
# The Dockerfile stays the image build for users with Docker; this is the offline path.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${HERALD_TESTENV_CACHE:-/var/cache/herald-testenv}
HERALD_BIN_DIR=${HERALD_BIN_DIR:-${CARGO_TARGET_DIR:-$REPO/target}/release}
out=${1:?usage: $0 OUTDIR}
log() { printf '[k8s-images %s] %s\n' "$(date +%T.%3N)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
command -v umoci >/dev/null || die "umoci missing (apt-get install umoci)"
command -v gcc >/dev/null || die "gcc missing (apt-get install gcc libc6-dev)"
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# new_image NAME TAG : an empty OCI layout $work/NAME with image TAG.
new_image() {
    umoci init --layout "$work/$1"
    umoci new --image "$work/$1:$2"
}
# pack NAME : $out/NAME.tar from the layout (index.json at the archive's root).
pack() {
    tar -C "$work/$1" -cf "$out/$1.tar.new" .
    mv -f "$out/$1.tar.new" "$out/$1.tar"
    log "$out/$1.tar ($(du -h "$out/$1.tar" | cut -f1))"
}

# ---- pause ---------------------------------------------------------------------------
[[ -x $CACHE/bin/pause ]] || die "no $CACHE/bin/pause: run scripts/kube-testenv.sh build"
new_image pause v1.20.2
umoci insert --image "$work/pause:v1.20.2" "$CACHE/bin/pause" /pause
umoci config --image "$work/pause:v1.20.2" --config.entrypoint /pause --config.user 65535:65535
pack pause

# ---- backend -------------------------------------------------------------------------
gcc -Os -Wall -Wextra -Werror -static -o "$work/backend.bin" "$HERE/images/backend.c"
new_image backend lab
umoci insert --image "$work/backend:lab" "$work/backend.bin" /backend
umoci config --image "$work/backend:lab" --config.entrypoint /backend --config.cmd 8080 \
    --config.user 65532:65532 --config.exposedports 8080/tcp
pack backend

# ---- herald --------------------------------------------------------------------------
root=$work/herald-root
for b in herald-controller herald-speaker; do
    [[ -x $HERALD_BIN_DIR/$b ]] || die "no $HERALD_BIN_DIR/$b (cargo build --release --locked -p herald-controller -p herald-speaker)"
    install -D -m 0755 "$HERALD_BIN_DIR/$b" "$root/usr/local/bin/$b"
    strip --strip-debug "$root/usr/local/bin/$b"
done
# The dynamic loader and every library the binaries link, at the paths they have here.
while read -r lib; do
    [[ -e $root$lib ]] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
done < <(for b in "$root"/usr/local/bin/*; do ldd "$b"; done \
         | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) .*/\1/p' | sort -u)
mkdir -p "$root/tmp" && chmod 1777 "$root/tmp"
new_image herald lab
umoci insert --image "$work/herald:lab" "$root" /
umoci config --image "$work/herald:lab" --config.entrypoint /usr/local/bin/herald-controller \
    --config.user 65532:65532 --config.exposedports 7472/tcp
pack herald
