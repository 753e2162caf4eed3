#!/usr/bin/env bash
# Builds a small HTTP server image on top of the busybox image (images/busybox/build.sh),
# into target/images/httpd/:
#
#   oci/         an OCI image layout, tagged `latest`: busybox's layer, unchanged (same
#                digest), plus one layer with /www/index.html; its config runs busybox
#                `httpd -f -p 80 -h /www` (Cmd), exposes 80/tcp, works in /www
#   oci.tar      a tar of the layout's contents (what `ctr images import` takes)
#
# Nothing is downloaded, and every blob is deterministic: the same busybox image gives the
# same digests. The new tree is built beside the old one and swapped in at the end.
#
# Usage: images/httpd/build.sh [OUT] [BUSYBOX_IMAGE]
#   (defaults: target/images/httpd, target/images/busybox; `make image` builds both)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-$repo/target/images/httpd}
base=${2:-$repo/target/images/busybox}

die() { echo "images/httpd: $*" >&2; exit 1; }

for tool in jq sha256sum gzip tar; do
    command -v "$tool" >/dev/null || die "$tool not found (make deps)"
done
base_oci=$base/oci
[[ -f $base_oci/index.json ]] || die "no busybox image layout at $base_oci (images/busybox/build.sh)"

# --- the base image: its manifest, config and layers -------------------------------
blob() { # blob DIGEST: the path of a blob of the base layout
    local d=$1
    [[ $d =~ ^sha256:[0-9a-f]{64}$ ]] || die "bad digest \`$d\` in $base_oci"
    echo "$base_oci/blobs/sha256/${d#sha256:}"
}
base_manifest=$(blob "$(jq -er '.manifests[0].digest' "$base_oci/index.json")")
base_config=$(blob "$(jq -er '.config.digest' "$base_manifest")")
mapfile -t base_layers < <(jq -c '.layers[]' "$base_manifest")
((${#base_layers[@]} > 0)) || die "the busybox image has no layers"
[[ $(jq -r '.config.Cmd[0] // empty' "$base_config") != "" ]] ||
    die "$base_config does not look like the busybox image's config"

umask 022
new=$out.new
rm -rf --one-file-system "$new"
oci=$new/oci
blobs=$oci/blobs/sha256
work=$new/work
mkdir -p "$blobs" "$work"

# The base layers are shared as they are, so the digests match busybox's.
for l in "${base_layers[@]}"; do
    src=$(blob "$(jq -r .digest <<<"$l")")
    cp "$src" "$blobs/"
done

# --- the www layer --------------------------------------------------------------------
tree=$work/tree
mkdir -p "$tree/www"
cat >"$tree/www/index.html" <<'EOF'
<!DOCTYPE html>
<html>
<head><title>hoist httpd</title></head>
<body><p>hello from hoist httpd</p></body>
</html>
EOF
chmod 0755 "$tree/www"
chmod 0644 "$tree/www/index.html"

# A deterministic tar: sorted names, no times, no owner names, entries without "./".
LC_ALL=C tar --format=gnu --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    -C "$tree" -cf "$work/layer.tar" www

# put_blob FILE: moves FILE into blobs/sha256/ and prints "sha256:<hex> <size>".
put_blob() {
    local hex size
    hex=$(sha256sum "$1" | cut -d' ' -f1)
    size=$(stat -c %s "$1")
    mv "$1" "$blobs/$hex"
    echo "sha256:$hex $size"
}

diff_id=sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -6 <"$work/layer.tar" >"$work/layer.tar.gz"
read -r layer_digest layer_size < <(put_blob "$work/layer.tar.gz")

# --- config, manifest, index ------------------------------------------------------------
jq -cj --arg diff_id "$diff_id" '
    .config.Cmd = ["httpd", "-f", "-p", "80", "-h", "/www"]
    | .config.ExposedPorts = {"80/tcp": {}}
    | .config.WorkingDir = "/www"
    | .rootfs.diff_ids += [$diff_id]
    | .history += [{
        created: "1970-01-01T00:00:00Z",
        created_by: "images/httpd/build.sh: /www/index.html; httpd -f -p 80 -h /www"
      }]' "$base_config" >"$work/config.json"
read -r config_digest config_size < <(put_blob "$work/config.json")

jq -cj --arg cd "$config_digest" --argjson cs "$config_size" \
    --arg ld "$layer_digest" --argjson ls "$layer_size" '
    .config.digest = $cd | .config.size = $cs
    | .layers += [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $ld, size: $ls}]' \
    "$base_manifest" >"$work/manifest.json"
read -r manifest_digest manifest_size < <(put_blob "$work/manifest.json")

jq -cj --arg md "$manifest_digest" --argjson ms "$manifest_size" '
    .manifests = [.manifests[0] | .digest = $md | .size = $ms
                  | .annotations = {"org.opencontainers.image.ref.name": "latest"}]' \
    "$base_oci/index.json" >"$oci/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"
rm -rf "$work"

LC_ALL=C tar --format=gnu --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    -C "$oci" -cf "$new/oci.tar" oci-layout index.json blobs

# --- swap in ----------------------------------------------------------------------
rm -rf --one-file-system "$out.old"
if [[ -e $out ]]; then
    mv "$out" "$out.old"
fi
mv "$new" "$out"
rm -rf --one-file-system "$out.old"

echo "images/httpd: $out (manifest $manifest_digest)"
