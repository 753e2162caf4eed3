#!/usr/bin/env bash
# Times fetching a multi-layer image of about 100 MB from a local registry and unpacking
# it, for hoist and its peers, in one hyperfine invocation:
#   hoist (cold)    `hoist fetch docker://…` into an empty store (download, verify,
#                   unpack every layer)
#   skopeo+umoci    `skopeo copy docker://… oci:DIR` then `umoci unpack`
#   podman          `podman pull` into an empty --root (overlay storage)
#   hoist (warm)    the same `hoist fetch` again with everything already in the store
# and prints the means and the ratios. The registry is Debian's docker-registry on
# 127.0.0.1 (plain HTTP, an ephemeral port, storage in a temp dir); the image is the
# busybox rootfs plus six layers of 16 MiB of deterministic noise (AES-CTR of zeros),
# built with umoci and pushed with skopeo. Everything is removed afterwards.
#
# Called by `make bench` after benches/run.sh (which builds the release hoist and the
# busybox image). Environment:
#   HOIST    the hoist binary (default target/release/hoist)
#   IMAGE    the busybox image directory (default target/images/busybox)
#   FETCH_WARMUP, FETCH_RUNS   hyperfine's --warmup and --runs (default 1 and 5)
#   OUT      where results go (default target/bench): fetch.json (hyperfine's export)
#            and fetch.md (a table for README.md)
# Targets (issue 4): hoist cold at least 1.5x faster than the fastest peer; a warm
# re-fetch under 50 ms.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

HOIST=${HOIST:-target/release/hoist}
IMAGE=${IMAGE:-target/images/busybox}
FETCH_WARMUP=${FETCH_WARMUP:-1}
FETCH_RUNS=${FETCH_RUNS:-5}
OUT=${OUT:-target/bench}
LAYERS=6
LAYER_MIB=16

say() { echo "bench fetch: $*" >&2; }
die() { say "$*"; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (unpacking keeps owners; podman's storage needs it)"
for tool in hyperfine jq docker-registry skopeo umoci podman openssl ss; do
    command -v "$tool" >/dev/null || die "$tool not found (make deps)"
done
[[ -x $HOIST ]] || die "$HOIST not found (make release, or set HOIST)"
HOIST=$(cd "$(dirname "$HOIST")" && pwd)/$(basename "$HOIST")
[[ -x $IMAGE/rootfs/bin/busybox ]] || die "no busybox image at $IMAGE (make image)"

work=$(mktemp -d /tmp/hoist-bench-fetch.XXXXXX)
registry_pid=
cleanup() {
    if [[ -n $registry_pid ]]; then
        kill "$registry_pid" 2>/dev/null || true
        wait "$registry_pid" 2>/dev/null || true
    fi
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# --- a registry on a free loopback port -------------------------------------------------
port=
for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    if ! ss -Htln "sport = :$p" | grep -q .; then port=$p; break; fi
done
[[ -n $port ]] || die "no free port found"
host=127.0.0.1:$port
cat >"$work/registry.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}, delete: {enabled: true}}
http: {addr: $host}
EOF
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    kill -0 "$registry_pid" 2>/dev/null || die "docker-registry exited: $(cat "$work/registry.log")"
    sleep 0.05
done

# --- the image: busybox + LAYERS layers of noise -----------------------------------------
say "building the image (busybox + $LAYERS x $LAYER_MIB MiB layers)"
layout=$work/layout bundle=$work/build
umoci init --layout "$layout"
umoci new --image "$layout:bench"
umoci unpack --image "$layout:bench" "$bundle" >/dev/null
cp -a "$IMAGE/rootfs/." "$bundle/rootfs/"
umoci repack --refresh-bundle --image "$layout:bench" "$bundle"
for i in $(seq "$LAYERS"); do
    mkdir -p "$bundle/rootfs/data"
    head -c "$((LAYER_MIB << 20))" /dev/zero |
        openssl enc -aes-256-ctr -nosalt -pass "pass:hoist-bench-$i" 2>/dev/null \
            >"$bundle/rootfs/data/noise-$i"
    umoci repack --refresh-bundle --image "$layout:bench" "$bundle"
done
umoci config --image "$layout:bench" --config.cmd /bin/sh
skopeo copy -q --dest-tls-verify=false "oci:$layout:bench" "docker://$host/bench:latest"
ref=docker://$host/bench:latest
size=$(du -sm "$work/registry" | cut -f1)
say "pushed $ref ($size MB in the registry)"

# --- the peers' settings -----------------------------------------------------------------
mkdir -p "$work/podman-tmp"
cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768"]
[engine]
tmp_dir = "$work/podman-tmp"
EOF
export CONTAINERS_CONF=$work/containers.conf
printf '' >"$work/registries.conf"

q() { printf %q "$1"; }
hoist_cmd() { # hoist_cmd STORE
    echo "$(q "$HOIST") --dir $(q "$1") --registries-conf $(q "$work/registries.conf") --insecure-registry $host fetch $ref"
}
cold_store=$work/hoist-cold warm_store=$work/hoist-warm
skopeo_dir=$work/skopeo-oci umoci_bundle=$work/umoci-bundle
podman_root=$work/podman-root podman_runroot=$work/podman-runroot

# Each command once, untimed, so that a failure is shown plainly and not as hyperfine's.
eval "$(hoist_cmd "$warm_store")" >/dev/null || die "hoist fetch failed"
rm -rf "$cold_store"

names=("hoist (cold)" "skopeo+umoci" "podman" "hoist (warm)")
cmds=(
    "$(hoist_cmd "$cold_store")"
    "skopeo copy -q --src-tls-verify=false $ref oci:$(q "$skopeo_dir"):bench && umoci unpack --image $(q "$skopeo_dir"):bench $(q "$umoci_bundle") >/dev/null"
    "podman --root $(q "$podman_root") --runroot $(q "$podman_runroot") --storage-driver overlay pull -q --tls-verify=false $ref >/dev/null"
    "$(hoist_cmd "$warm_store")"
)
prepares=(
    "rm -rf $(q "$cold_store")"
    "rm -rf $(q "$skopeo_dir") $(q "$umoci_bundle")"
    "rm -rf $(q "$podman_root") $(q "$podman_runroot")"
    "true"
)

mkdir -p "$OUT"
args=(--warmup "$FETCH_WARMUP" --runs "$FETCH_RUNS" --export-json "$OUT/fetch.json")
for i in "${!names[@]}"; do
    args+=(--prepare "${prepares[$i]}" --command-name "${names[$i]}" "${cmds[$i]}")
done
hyperfine "${args[@]}" || die "hyperfine failed (a command failed while being timed)"

# --- results -----------------------------------------------------------------------------
mean() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .mean' "$OUT/fetch.json"; }
ratio() { jq -rn --argjson a "$1" --argjson b "$2" '$a / $b * 100 | round / 100 | tostring + "x"'; }
cold=$(mean "hoist (cold)") warm=$(mean "hoist (warm)")
skopeo=$(mean "skopeo+umoci") podman=$(mean "podman")
fastest=$(jq -rn --argjson a "$skopeo" --argjson b "$podman" '[$a, $b] | min')
fastest_name=skopeo+umoci
[[ $fastest == "$podman" ]] && fastest_name=podman

{
    echo "| command | mean | ± σ | min | max |"
    echo "|---|---|---|---|---|"
    jq -r '.results[] | "| \(.command) | \(.mean * 1000 | round) ms | \((.stddev // 0) * 1000 | round) ms | \(.min * 1000 | round) ms | \(.max * 1000 | round) ms |"' \
        "$OUT/fetch.json"
    echo
    echo "Fetch + unpack of a $((LAYERS + 1))-layer image (busybox + $LAYERS x $LAYER_MIB MiB," \
        "$size MB in the registry) from docker-registry on loopback, $FETCH_RUNS runs after" \
        "$FETCH_WARMUP warm-up; $(uname -r), $(nproc) CPUs, $(date -u +%Y-%m-%d)."
    echo "skopeo+umoci / hoist (cold): $(ratio "$skopeo" "$cold");" \
        "podman / hoist (cold): $(ratio "$podman" "$cold");" \
        "hoist warm re-fetch: $(jq -rn --argjson w "$warm" '$w * 10000 | round / 10') ms."
} >"$OUT/fetch.md"

echo
echo "== fetch + unpack, ~100 MB from a local registry =="
cat "$OUT/fetch.md"
echo
speedup=$(jq -rn --argjson f "$fastest" --argjson c "$cold" '$f / $c')
echo "hoist (cold) vs the fastest peer ($fastest_name): $(ratio "$fastest" "$cold") faster" \
    "(target 1.5x: $(jq -rn --argjson s "$speedup" 'if $s >= 1.5 then "met" else "NOT met" end'))"
echo "hoist (warm): $(jq -rn --argjson w "$warm" '$w * 10000 | round / 10') ms" \
    "(target 50 ms: $(jq -rn --argjson w "$warm" 'if $w < 0.05 then "met" else "NOT met" end'))"
echo "(hyperfine's JSON: $OUT/fetch.json; the table: $OUT/fetch.md)"
