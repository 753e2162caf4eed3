#!/usr/bin/env bash
# Builds the busybox image that the demo, the tests and the benchmarks use, from
# Debian's busybox-static (/bin/busybox), into target/images/busybox/:
#
#   rootfs/      busybox, its applet links, /etc/{passwd,group,hostname}, empty dirs
#   config.json  a runc-`spec`-like config, so that the directory is an OCI bundle
#   oci/         an OCI image layout with that rootfs as one image, tagged `latest`
#   oci.tar      a tar of the layout's contents (what `ctr images import` takes)
#
# The layer and every blob are deterministic: the same busybox gives the same digests.
# The new tree is built beside the old one and swapped in at the end, so an interrupted
# build leaves the previous image in place.
#
# Usage: images/busybox/build.sh [OUT]     (environment: BUSYBOX=/bin/busybox)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-$repo/target/images/busybox}
busybox=${BUSYBOX:-/bin/busybox}

die() { echo "images/busybox: $*" >&2; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root: the rootfs must be owned by root"
[[ -x $busybox ]] || die "$busybox not found: apt-get install busybox-static (or make deps)"
for tool in jq sha256sum gzip tar; do
    command -v "$tool" >/dev/null || die "$tool not found (make deps)"
done

new=$out.new
rm -rf --one-file-system "$new"
mkdir -p "$new"
rootfs=$new/rootfs

# --- rootfs -----------------------------------------------------------------------
umask 022
mkdir -p "$rootfs"
for d in bin sbin usr/bin usr/sbin etc proc sys dev tmp root var run; do
    mkdir -p "$rootfs/$d"
done
install -m 0755 "$busybox" "$rootfs/bin/busybox"

# Applet links are relative, so that they also resolve when the rootfs is looked at
# from the host. `linuxrc` (the only entry outside a bin directory) is left out.
"$busybox" --list-full | while read -r applet; do
    case $applet in
    */*) ;;
    *) continue ;;
    esac
    [[ $applet == bin/busybox ]] && continue
    dir=${applet%/*}
    if [[ $dir == bin ]]; then
        target=busybox
    else
        up=${dir//[!\/]/}          # one slash per level below the root, minus one
        target=$(printf '../%.0s' $(seq 0 ${#up}))bin/busybox
    fi
    mkdir -p "$rootfs/$dir"
    ln -sfn "$target" "$rootfs/$applet"
done

printf '%s\n' \
    'root:x:0:0:root:/root:/bin/sh' \
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$rootfs/etc/passwd"
printf '%s\n' \
    'root:x:0:' \
    'tty:x:5:' \
    'nobody:x:65534:' >"$rootfs/etc/group"
printf 'hoist\n' >"$rootfs/etc/hostname"

find "$rootfs" -type d -exec chmod 0755 {} +
find "$rootfs" -type f -exec chmod 0644 {} +
chmod 0755 "$rootfs/bin/busybox"
chmod 1777 "$rootfs/tmp"
chmod 0700 "$rootfs/root"
chown -hR 0:0 "$rootfs"

# --- bundle config ----------------------------------------------------------------
jq . "$here/config.json" >"$new/config.json"

# --- OCI image layout -------------------------------------------------------------
oci=$new/oci
blobs=$oci/blobs/sha256
mkdir -p "$blobs"
work=$new/work
mkdir -p "$work"

# A deterministic tar: sorted names, no times, no owner names, entries without "./".
det_tar() { # det_tar DIR OUTPUT NAME...
    local dir=$1 output=$2
    shift 2
    LC_ALL=C tar --format=gnu --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
        -C "$dir" -cf "$output" "$@"
}

# put_blob FILE: moves FILE into blobs/sha256/ and prints "sha256:<hex> <size>".
put_blob() {
    local hex size
    hex=$(sha256sum "$1" | cut -d' ' -f1)
    size=$(stat -c %s "$1")
    mv "$1" "$blobs/$hex"
    echo "sha256:$hex $size"
}

mapfile -t top < <(cd "$rootfs" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | LC_ALL=C sort)
det_tar "$rootfs" "$work/layer.tar" "${top[@]}"
diff_id=sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -6 <"$work/layer.tar" >"$work/layer.tar.gz"
read -r layer_digest layer_size < <(put_blob "$work/layer.tar.gz")

arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
banner=$("$busybox" 2>&1 | head -n1 || true)
jq -cjn --arg arch "$arch" --arg diff_id "$diff_id" --arg by "images/busybox/build.sh: $banner" '{
    created: "1970-01-01T00:00:00Z",
    architecture: $arch,
    os: "linux",
    config: {
        Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        Cmd: ["sh"],
        WorkingDir: "/"
    },
    rootfs: {type: "layers", diff_ids: [$diff_id]},
    history: [{created: "1970-01-01T00:00:00Z", created_by: $by}]
}' >"$work/config.json"
read -r config_digest config_size < <(put_blob "$work/config.json")

jq -cjn \
    --arg cd "$config_digest" --argjson cs "$config_size" \
    --arg ld "$layer_digest" --argjson ls "$layer_size" '{
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $cd, size: $cs},
    layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $ld, size: $ls}]
}' >"$work/manifest.json"
read -r manifest_digest manifest_size < <(put_blob "$work/manifest.json")

jq -cjn --arg md "$manifest_digest" --argjson ms "$manifest_size" --arg arch "$arch" '{
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: $md,
        size: $ms,
        platform: {architecture: $arch, os: "linux"},
        annotations: {"org.opencontainers.image.ref.name": "latest"}
    }]
}' >"$oci/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"
rm -rf "$work"

det_tar "$oci" "$new/oci.tar" oci-layout index.json blobs

# --- swap in ----------------------------------------------------------------------
rm -rf --one-file-system "$out.old"
if [[ -e $out ]]; then
    mv "$out" "$out.old"
fi
mv "$new" "$out"
rm -rf --one-file-system "$out.old"

echo "images/busybox: $out (manifest $manifest_digest)"
