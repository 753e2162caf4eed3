#!/usr/bin/env bash
# Times and sizes hoist's pods (issue 5's benchmarks):
#
#  (a) one pod's life, in one hyperfine invocation:
#        hoist --dir D run --net none busybox --exec /bin/true    (the image in the store)
#        podman run --rm --network none IMAGE true                 (crun, a private store)
#        hoist-runtime run + delete of the same bundle              (the bare stage1: the
#            config.json hoist writes for that pod, with new namespaces in place of the
#            pod's, the pod's /etc files and a copy of the image's rootfs)
#        hoist-runtime run + delete of the image's own bundle       (its minimal
#            config.json: no seccomp filter, fewer mounts; for comparison)
#      targets: hoist run at most 0.3x podman's time, at most 2x the bare runtime's on
#      the same bundle;
#  (b) 100 pods at once (`hoist run --detach --net none busybox --exec /bin/sleep -- 600`):
#      the time to start them all, the RSS and PSS of each pod's supervisor (`hoist
#      supervise`) against conmon's for a podman container (target: no more than conmon),
#      then stop and rm of every pod, and a check that nothing is left.
#
# Called by `make bench` after benches/run.sh, which builds the release hoist and
# hoist-runtime and the busybox image. Environment:
#   HOIST    the hoist binary (default target/release/hoist; hoist-runtime beside it is
#            the default stage1 and the bare runtime timed in (a))
#   IMAGE    the busybox image directory (default target/images/busybox)
#   WARMUP, RUNS   hyperfine's --warmup and --runs (default 3 and 30)
#   PODS     how many pods (b) starts (default 100)
#   OUT      where results go (default target/bench): pods.json (hyperfine's export) and
#            pods.md (the tables for README.md's "Measured" section)
#
# Everything lives in a scratch dir under /tmp (hoist's store, podman's root, runroot,
# config and tmp), removed at the end. crun 1.8 refuses this hybrid host while hugetlb is
# on the cgroup2 mount: for the run hugetlb is moved to a v1 hierarchy of its own and a
# trap moves it back, as benches/run.sh does. Host-global state changes while it runs:
# don't run it beside the integration tests.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

HOIST=${HOIST:-target/release/hoist}
IMAGE=${IMAGE:-target/images/busybox}
WARMUP=${WARMUP:-3}
RUNS=${RUNS:-30}
PODS=${PODS:-100}
OUT=${OUT:-target/bench}

say() { echo "bench/pods: $*" >&2; }
die() { say "$*"; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (pods need it)"
for tool in hyperfine jq timeout podman crun conmon awk; do
    command -v "$tool" >/dev/null || die "$tool not found (make deps)"
done
[[ -x $HOIST ]] || die "$HOIST not found (make release)"
HOIST=$(cd "$(dirname "$HOIST")" && pwd)/$(basename "$HOIST")
RUNTIME=$(dirname "$HOIST")/hoist-runtime
[[ -x $RUNTIME ]] || die "$RUNTIME not found: hoist's default stage1 lives beside hoist (make release)"
[[ -f $IMAGE/oci/index.json && -x $IMAGE/rootfs/bin/busybox && -f $IMAGE/config.json ]] ||
    die "no busybox image at $IMAGE (make image)"
IMAGE=$(cd "$IMAGE" && pwd)

# --- scratch space, host changes and their undoing ----------------------------------
work=$(mktemp -d /tmp/hoist-podbench.XXXXXX)
store=$work/store
pm=$work/podman
# Run-time state goes on a tmpfs, as /run is one on any systemd host (these VMs keep /run
# on ext4, where a state file can wait hundreds of microseconds for writeback): the bare
# cycle's --root and podman's runroot here, hoist's stage1 roots in /run/hoist (which
# hoist puts on a tmpfs itself when /run is not one).
rt=$work/run
mkdir -p "$rt" && mount -t tmpfs -o mode=0700 hoist-podbench "$rt"
cgparent=hoist-bench-podman-$$

hoist() { "$HOIST" --dir "$store" "$@"; }
# podman with a store, config and tmp of its own (HOST.md; as tests/podman does).
CRUN=$(command -v crun)
podman_=(env CONTAINERS_CONF="$pm/containers.conf" CONTAINERS_STORAGE_CONF="$pm/storage.conf"
    TMPDIR="$pm/tmp" podman --root "$pm/root" --runroot "$rt/podman" --storage-driver overlay
    --runtime "$CRUN")

source "$repo/benches/hugetlb.sh"

# The bench's own cgroups under hugetlb (podman's parent, and hoist's /hoist once its
# pods are gone), for hugetlb_restore.
remove_own_hugetlb_cgroups() {
    [[ -d $hugetlb/$cgparent ]] && find "$hugetlb/$cgparent" -depth -type d -exec rmdir {} + 2>/dev/null
    rmdir "$hugetlb/hoist" 2>/dev/null
    return 0
}

# The mount points under DIR, deepest last (mountinfo field 5, octal escapes undone).
mounts_under() {
    awk -v p="$1/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo |
        sed -e 's/\\040/ /g' -e 's/\\011/\t/g' -e 's/\\012/\n/g' -e 's/\\134/\\/g'
}

# Runs from the EXIT trap: every step is tried whatever the others did.
cleanup() {
    set +e
    local uuids m d
    if [[ -d $store/pods ]]; then
        mapfile -t uuids < <(find "$store/pods/run" -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null)
        if ((${#uuids[@]} > 0)); then
            say "stopping ${#uuids[@]} pods left running"
            timeout -k 5 120 "$HOIST" --dir "$store" stop --force "${uuids[@]}" >/dev/null 2>&1
        fi
        timeout -k 5 120 "$HOIST" --dir "$store" gc --grace-period 0s >/dev/null 2>&1
    fi
    if [[ -d $pm/root ]]; then
        timeout -k 5 60 "${podman_[@]}" rm -f -a -t 0 >/dev/null 2>&1
        timeout -k 5 60 "${podman_[@]}" rmi -a -f >/dev/null 2>&1
    fi
    if [[ -d $work/bare ]]; then
        "$RUNTIME" --root "$rt/bare" delete -f hoist-bench-bare >/dev/null 2>&1
    fi
    # Whatever is still mounted under the scratch dir (podman's overlay, a pod's shm),
    # topmost first, so that rm cannot reach into a mounted layer.
    mounts_under "$work" | tac | while read -r m; do umount -l "$m" 2>/dev/null; done
    for d in /sys/fs/cgroup/*/"$cgparent"; do
        [[ -d $d ]] || continue
        if [[ $(stat -f -c %T "$d") == tmpfs ]]; then
            # A plain directory that podman made on /sys/fs/cgroup's tmpfs, for a v1
            # controller whose hierarchy is not mounted (see the warning at the start).
            rm -rf --one-file-system "$d"
        else
            find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
        fi
    done
    hugetlb_restore
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

hugetlb_take

# --- hoist's store, podman's store, the bare bundle -----------------------------------
say "importing $IMAGE/oci into hoist's store ($store)"
hoist fetch --name busybox "oci:$IMAGE/oci" >/dev/null ||
    die "hoist fetch of $IMAGE/oci failed"

mkdir -p "$pm/tmp" "$pm/net"
nofile=$(ulimit -Hn)
((nofile > 20000)) && nofile=20000
cat >"$pm/containers.conf" <<EOF
[containers]
# Rootful podman asks for nofile 1048576 and nproc 4194304; root here lacks
# CAP_SYS_RESOURCE (HOST.md), so ask for what the caller already has.
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]

[network]
network_config_dir = "$pm/net"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$pm/events.log"
tmp_dir = "$pm/tmp"
image_copy_tmp_dir = "$pm/tmp"
lock_type = "file"
EOF
printf '[storage]\ndriver = "overlay"\ngraphroot = "%s"\nrunroot = "%s"\n' \
    "$pm/root" "$rt/podman" >"$pm/storage.conf"
printf '{"default": [{"type": "insecureAcceptAnything"}]}' >"$pm/policy.json"
say "pulling the same image into podman's own store ($pm/root)"
pimage=$("${podman_[@]}" pull -q --signature-policy "$pm/policy.json" "oci:$IMAGE/oci:latest" | tail -n1)
[[ -n $pimage ]] || die "podman pull of oci:$IMAGE/oci:latest printed no image id"

bare=$work/bare
mkdir -p "$bare" "$rt/bare"
cp -a "$IMAGE/rootfs" "$bare/rootfs"
jq '.process.args = ["/bin/true"] | .process.terminal = false' \
    "$IMAGE/config.json" >"$bare/config.json"

# The bundle hoist writes for the timed pod, taken from a pod of the same command line
# (with `sleep`, so that it can be read): its config.json, run directly. The pod's own
# namespace files, shm and /etc files go with the pod: new namespaces instead, a tmpfs
# /dev/shm, copies of the /etc files; the rootfs is a copy of the image's.
same=$work/same
mkdir -p "$same"
cp -a "$IMAGE/rootfs" "$same/rootfs"
uuid=$(timeout -k 5 60 "$HOIST" --dir "$store" run --detach --net none busybox \
    --exec /bin/sleep -- 600 </dev/null) || die "hoist run --detach failed"
podrt=/run/hoist/$uuid.rt
cp "$podrt/apps/busybox/config.json" "$work/pod-config.json" && cp -r "$podrt/etc" "$same/etc" ||
    die "no config.json or /etc files in the run-time files of pod $uuid"
timeout -k 5 60 "$HOIST" --dir "$store" stop --force "$uuid" >/dev/null &&
    "$HOIST" --dir "$store" rm "$uuid" >/dev/null || die "hoist stop/rm of pod $uuid failed"
jq --arg etc "$same/etc" '
    .process.args = ["/bin/true"] | .process.terminal = false | .root.path = "rootfs"
    | .linux.namespaces |= map(del(.path)) | del(.linux.cgroupsPath)
    | .mounts |= map(
        if .destination == "/dev/shm" then {destination: "/dev/shm", type: "tmpfs",
            source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}
        elif (.destination | startswith("/etc/")) then
            .source = ($etc + "/" + (.destination | ltrimstr("/etc/")))
        else . end)' "$work/pod-config.json" >"$same/config.json" ||
    die "could not rewrite the pod's config.json"

# --- (a) one pod's life ----------------------------------------------------------------
q() { printf '%q' "$1"; }
cmd_hoist="$(q "$HOIST") --dir $(q "$store") run --net none busybox --exec /bin/true"
cmd_podman=$(printf '%q ' "${podman_[@]}")
cmd_podman+="run --rm --network none --cgroup-parent /$cgparent $pimage true"
cmd_same="$(q "$RUNTIME") --root $(q "$rt/bare") run --bundle $(q "$same") hoist-bench-same"
cmd_same+=" && $(q "$RUNTIME") --root $(q "$rt/bare") delete -f hoist-bench-same"
cmd_bare="$(q "$RUNTIME") --root $(q "$rt/bare") run --bundle $(q "$bare") hoist-bench-bare"
cmd_bare+=" && $(q "$RUNTIME") --root $(q "$rt/bare") delete -f hoist-bench-bare"
cmd_gc="$(q "$HOIST") --dir $(q "$store") gc --grace-period 0s"

# Each must work, and print from inside, before it is timed.
out=$(timeout -k 5 60 "$HOIST" --dir "$store" run --net none busybox --exec sh -- -c 'echo hoist-bench-ok' </dev/null 2>&1) ||
    die "hoist run failed: $out"
[[ $out == hoist-bench-ok ]] || die "hoist run exited 0 but printed \`$out\`, not hoist-bench-ok"
out=$(timeout -k 5 60 "${podman_[@]}" run --rm --network none --cgroup-parent "/$cgparent" "$pimage" \
    sh -c 'echo hoist-bench-ok' </dev/null 2>&1) || die "podman run failed: $out"
[[ $out == hoist-bench-ok ]] || die "podman run exited 0 but printed \`$out\`"
timeout -k 5 60 sh -c "$cmd_bare" </dev/null >/dev/null 2>"$work/bare.err" ||
    die "hoist-runtime run of $bare failed: $(head -c 400 "$work/bare.err")"
timeout -k 5 60 sh -c "$cmd_same" </dev/null >/dev/null 2>"$work/bare.err" ||
    die "hoist-runtime run of $same failed: $(head -c 400 "$work/bare.err")"
timeout -k 5 60 sh -c "$cmd_gc" >/dev/null || die "hoist gc failed"

mkdir -p "$OUT"
# The stores just written (images imported, podman's checks) are flushed first: on
# these VMs' ext4, a directory creation next to data still being written back takes
# ten times as long (measured: 400 us against 50 us a mkdir in /tmp), which would
# time the page cache's writeback rather than the commands.
sync
# --prepare runs before every timed run of every command (hyperfine 1.15 has no
# --conclude): each `hoist run` leaves an exited pod, and gc removes it untimed.
hyperfine --warmup "$WARMUP" --runs "$RUNS" --export-json "$OUT/pods.json" \
    --prepare "$cmd_gc >/dev/null; sync" \
    --command-name "hoist run" "$cmd_hoist" \
    --command-name "podman run --rm (crun)" "$cmd_podman" \
    --command-name "hoist-runtime run + delete (same bundle)" "$cmd_same" \
    --command-name "hoist-runtime run + delete (image's bundle)" "$cmd_bare" </dev/null ||
    die "hyperfine failed: a command failed while being timed (its error is above)"
timeout -k 5 60 sh -c "$cmd_gc" >/dev/null || die "hoist gc failed"

mean() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .mean' "$OUT/pods.json"; }
ratio() { jq -rn --argjson a "$(mean "$1")" --argjson b "$(mean "$2")" '$a / $b * 100 | round / 100'; }
ms() { jq -r --arg n "$1" '.results[] | select(.command == $n) |
    "\(.mean * 10000 | round / 10) ms | \(.stddev * 10000 | round / 10) ms | \(.min * 10000 | round / 10) ms | \(.max * 10000 | round / 10) ms"' \
    "$OUT/pods.json"; }
verdict() { # verdict VALUE LIMIT
    jq -rn --argjson v "$1" --argjson l "$2" 'if $v <= $l then "met" else "NOT met" end'
}
r_podman=$(ratio "hoist run" "podman run --rm (crun)")
r_bare=$(ratio "hoist run" "hoist-runtime run + delete (same bundle)")
r_image=$(ratio "hoist run" "hoist-runtime run + delete (image's bundle)")

# --- (b) PODS pods at once ---------------------------------------------------------------
say "starting $PODS detached pods"
uuids=()
t0=$(date +%s%N)
for i in $(seq "$PODS"); do
    uuid=$(timeout -k 5 60 "$HOIST" --dir "$store" run --detach --net none busybox \
        --exec /bin/sleep -- 600 </dev/null) || die "hoist run --detach of pod $i failed"
    uuids+=("$uuid")
done
t1=$(date +%s%N)
start_ms=$(((t1 - t0) / 1000000))
running=$("$HOIST" --dir "$store" list --format json | jq '[.[] | select(.state == "running")] | length')
((running == PODS)) || die "$running pods running, not $PODS"

# kib PID: "RSS PSS ANON" in KiB: VmRSS, Pss from smaps_rollup, and RssAnon (the memory
# that is the process's own; the rest of its RSS is file pages shared with every other
# process mapping the same binary and libraries).
kib() {
    local rss pss anon
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status")
    anon=$(awk '/^RssAnon:/ { print $2 }' "/proc/$1/status")
    pss=$(awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup")
    echo "$rss $pss $anon"
}
: >"$work/sup.kib"
for uuid in "${uuids[@]}"; do
    pid=$(cat "/run/hoist/$uuid.rt/supervisor")
    grep -q supervise "/proc/$pid/cmdline" || die "pid $pid of pod $uuid is not a hoist supervisor"
    kib "$pid" >>"$work/sup.kib"
done
stats() { # stats COLUMN < "RSS PSS" lines: "min mean max" in KiB
    awk -v c="$1" 'NR == 1 { min = max = $c } { s += $c; if ($c < min) min = $c; if ($c > max) max = $c }
        END { printf "%d %d %d\n", min, s / NR, max }'
}
read -r rss_min rss_mean rss_max < <(stats 1 <"$work/sup.kib")
read -r pss_min pss_mean pss_max < <(stats 2 <"$work/sup.kib")
read -r anon_min anon_mean anon_max < <(stats 3 <"$work/sup.kib")
load=$(cut -d' ' -f1-3 /proc/loadavg)

say "a podman container beside them, for conmon's memory"
cid=$(timeout -k 5 60 "${podman_[@]}" run -d --network none --cgroup-parent "/$cgparent" "$pimage" sleep 600) ||
    die "podman run -d failed"
conmon_pid=$("${podman_[@]}" inspect --format '{{.State.ConmonPid}}' "$cid")
[[ $(cat "/proc/$conmon_pid/comm") == conmon ]] || die "pid $conmon_pid is not conmon"
read -r conmon_rss conmon_pss conmon_anon < <(kib "$conmon_pid")
timeout -k 5 60 "${podman_[@]}" rm -f -t 0 "$cid" >/dev/null || die "podman rm -f $cid failed"

say "stopping and removing the $PODS pods"
t0=$(date +%s%N)
timeout -k 5 300 "$HOIST" --dir "$store" stop --force "${uuids[@]}" >/dev/null || die "hoist stop failed"
t1=$(date +%s%N)
stop_ms=$(((t1 - t0) / 1000000))
timeout -k 5 300 "$HOIST" --dir "$store" rm "${uuids[@]}" >/dev/null || die "hoist rm failed"
left=$("$HOIST" --dir "$store" list --format json | jq length)
((left == 0)) || die "$left pods left after stop and rm"
mounts=$(mounts_under "$store" | wc -l)
((mounts == 0)) || die "$mounts mounts left under $store: $(mounts_under "$store" | head -n 3)"
cgroups=0
for u in "${uuids[@]}"; do
    for d in /sys/fs/cgroup/*/hoist/"$u"-* /sys/fs/cgroup/unified/hoist/"$u"-*; do
        [[ -e $d ]] && cgroups=$((cgroups + 1))
    done
done
((cgroups == 0)) || die "$cgroups cgroups of the bench's pods left under /sys/fs/cgroup/*/hoist"
sleepers=$(pgrep -c -f "$store" || true)
((sleepers == 0)) || die "$sleepers processes still name $store"

# --- results ---------------------------------------------------------------------------
mib() { awk -v k="$1" 'BEGIN { printf "%.2f MiB", k / 1024 }'; }
{
    echo "| command | mean | ± σ | min | max |"
    echo "|---|---|---|---|---|"
    for n in "hoist run" "podman run --rm (crun)" "hoist-runtime run + delete (same bundle)" \
        "hoist-runtime run + delete (image's bundle)"; do
        echo "| $n | $(ms "$n") |"
    done
    echo
    echo "\`hoist run --net none busybox --exec /bin/true\` (image in the store, default stage1)" \
        "against \`podman run --rm --network none IMAGE true\` (crun $(crun --version | awk 'NR == 1 { print $3 }')," \
        "podman $(podman --version | awk '{ print $3 }')) and \`hoist-runtime run\` + \`delete -f\` of the" \
        "same bundle (the config.json hoist writes for that pod, with new namespaces instead of the" \
        "pod's, a tmpfs /dev/shm and the pod's /etc files; a copy of the image's rootfs) and of the" \
        "image's own minimal bundle (no seccomp filter, no /etc files, runtime defaults);" \
        "$RUNS runs after $WARMUP warm-up, $(uname -r), $(nproc) CPUs, $(date -u +%Y-%m-%d)."
    echo
    echo "hoist run / podman run: ${r_podman}x (target ≤ 0.3x: $(verdict "$r_podman" 0.3))." \
        "hoist run / hoist-runtime on the same bundle: ${r_bare}x (target ≤ 2x: $(verdict "$r_bare" 2));" \
        "on the image's minimal bundle: ${r_image}x."
    echo
    echo "| $PODS pods at once | min | mean | max |"
    echo "|---|---|---|---|"
    echo "| supervisor RSS | $(mib "$rss_min") | $(mib "$rss_mean") | $(mib "$rss_max") |"
    echo "| supervisor PSS | $(mib "$pss_min") | $(mib "$pss_mean") | $(mib "$pss_max") |"
    echo "| supervisor RssAnon | $(mib "$anon_min") | $(mib "$anon_mean") | $(mib "$anon_max") |"
    echo
    echo "conmon of one podman container (\`podman run -d --network none IMAGE sleep 600\`):" \
        "RSS $(mib "$conmon_rss"), PSS $(mib "$conmon_pss"), RssAnon $(mib "$conmon_anon")."
    echo
    echo "$PODS × \`hoist run --detach --net none busybox --exec /bin/sleep -- 600\`, one after the" \
        "other: ${start_ms} ms in all ($((start_ms / PODS)) ms a pod); load average then $load." \
        "\`hoist stop\` of all $PODS: ${stop_ms} ms; after \`hoist rm\` no pod, mount or cgroup is left."
    echo "Supervisor mean RSS / conmon RSS: $(jq -rn --argjson a "$rss_mean" --argjson b "$conmon_rss" '$a / $b * 100 | round / 100')x" \
        "(target ≤ 1x: $(verdict "$rss_mean" "$conmon_rss")); mean PSS / conmon PSS:" \
        "$(jq -rn --argjson a "$pss_mean" --argjson b "$conmon_pss" '$a / $b * 100 | round / 100')x;" \
        "mean RssAnon / conmon RssAnon: $(jq -rn --argjson a "$anon_mean" --argjson b "$conmon_anon" '$a / $b * 100 | round / 100')x."
} >"$OUT/pods.md"

echo
echo "== pods: hoist run against podman run and the bare stage1; $PODS pods at once =="
cat "$OUT/pods.md"
echo "(hyperfine's JSON: $OUT/pods.json; the tables: $OUT/pods.md)"
