#!/usr/bin/env bash
# Times one container life cycle, `run` of /bin/true in the foreground (create + start +
# wait) followed by `delete -f`, for hoist-runtime and its peers (runc, crun), in one
# hyperfine invocation on the same bundle, and prints the means and the ratios.
#
# Called by `make bench`, which builds the release hoist-runtime and the busybox image.
# Environment:
#   RUNTIME  the runtime under test (default target/release/hoist-runtime)
#   PEERS    runtimes to compare with, names or paths (default "runc crun")
#   IMAGE    the busybox image directory (default target/images/busybox)
#   WARMUP, RUNS   hyperfine's --warmup and --runs (default 3 and 30)
#   OUT      where results go (default target/bench): cycle.json (hyperfine's export)
#            and cycle.md (a table for README.md's "Measured" section)
#
# Exit status: 0 when every runtime was measured; 1 when hoist-runtime failed the cycle
# (the peers are still measured, and the failure is said plainly) or nothing could run.
#
# crun 1.8 refuses a hybrid host whose cgroup2 mount holds a controller, and here the v2
# mount holds hugetlb. For the duration of the run hugetlb is moved to a v1 hierarchy of
# its own; a trap moves it back, on failure and on ^C too. The bench changes host-global
# state while it runs: don't run it beside the integration tests.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

RUNTIME=${RUNTIME:-target/release/hoist-runtime}
PEERS=${PEERS:-runc crun}
IMAGE=${IMAGE:-target/images/busybox}
WARMUP=${WARMUP:-3}
RUNS=${RUNS:-30}
OUT=${OUT:-target/bench}

say() { echo "bench: $*" >&2; }
die() { say "$*"; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root (containers need it)"
for tool in hyperfine jq timeout; do
    command -v "$tool" >/dev/null || die "$tool not found (make deps)"
done
[[ -x $IMAGE/rootfs/bin/busybox && -f $IMAGE/config.json ]] ||
    die "no busybox image at $IMAGE (make image)"

# An absolute path for a runtime given as a path or as a command name; empty if none.
resolve() {
    case $1 in
    */*) [[ -x $1 ]] && { [[ $1 == /* ]] && echo "$1" || echo "$PWD/$1"; } ;;
    *) command -v "$1" || true ;;
    esac
}

# --- the runtimes -----------------------------------------------------------------
names=() bins=()
subject=$(resolve "$RUNTIME")
[[ -n $subject ]] || die "$RUNTIME not found (make release, or set RUNTIME)"
subject_name=hoist-runtime
[[ $(basename "$subject") == hoist-runtime ]] || subject_name="hoist-runtime=$(basename "$subject")"
names+=("$subject_name") bins+=("$subject")
for peer in $PEERS; do
    bin=$(resolve "$peer")
    if [[ -z $bin ]]; then
        say "$peer: not installed, skipped (make deps installs runc and crun)"
        continue
    fi
    names+=("$(basename "$peer")") bins+=("$bin")
done

# --- scratch space, host changes and their undoing ----------------------------------
work=$(mktemp -d /tmp/hoist-bench.XXXXXX)
source "$repo/benches/hugetlb.sh"

# The bench's own cgroups under hugetlb (and their processes, should a runtime have left
# a container running), for hugetlb_restore.
remove_own_hugetlb_cgroups() {
    local d pid
    for d in $(find "$hugetlb" -mindepth 1 -depth -type d -name 'hoist-bench-*' 2>/dev/null); do
        for pid in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    done
    find "$hugetlb" -mindepth 1 -depth -type d -name 'hoist-bench-*' -exec rmdir {} + 2>/dev/null
}

# Runs from the EXIT trap: every step is tried whatever the others did (no errexit; and a
# bare `return` in a trap handler would return the status the script exited with).
cleanup() {
    set +e
    local i
    for i in "${!bins[@]}"; do
        "${bins[$i]}" --root "$work/root-$i" delete -f "hoist-bench-$i" >/dev/null 2>&1 || true
    done
    hugetlb_restore
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

hugetlb_take

# --- the bundle ---------------------------------------------------------------------
# One bundle runs /bin/true for the timing; a second one, sharing its rootfs, prints a
# line so that the check below knows that the runtime really ran the container.
bundle=$work/bundle
mkdir -p "$bundle" "$work/check"
cp -a "$IMAGE/rootfs" "$bundle/rootfs"
jq '.process.args = ["/bin/true"] | .process.terminal = false' \
    "$IMAGE/config.json" >"$bundle/config.json"
jq --arg root "$bundle/rootfs" \
    '.process.args = ["sh", "-c", "echo hoist-bench-ok"] | .process.terminal = false | .root.path = $root' \
    "$IMAGE/config.json" >"$work/check/config.json"
# The same container under hoist's default seccomp profile with memory and pids limits.
hardened=$work/hardened
mkdir -p "$hardened"
"$subject" spec --seccomp --bundle "$work" >/dev/null 2>&1 || true
if [[ -f $work/config.json ]]; then
    jq --arg root "$bundle/rootfs" --slurpfile s "$work/config.json" \
        '.process.args = ["/bin/true"] | .process.terminal = false | .root.path = $root
         | .linux.seccomp = $s[0].linux.seccomp
         | .linux.resources.memory = {"limit": 268435456} | .linux.resources.pids = {"limit": 128}' \
        "$IMAGE/config.json" >"$hardened/config.json"
    rm -f "$work/config.json"
else
    say "could not get the default seccomp profile from $subject: the hardened cycle is skipped"
    hardened=
fi

# --- every runtime must run the cycle correctly before it is timed -------------------
# check I: runs the check bundle, then one timed-style cycle, and verifies that the
# container printed its line and that nothing is left of it. Prints why on failure.
check() {
    local i=$1 rt=${bins[$1]} root=$work/root-$1 id=hoist-bench-$1 status=0
    mkdir -p "$root"
    timeout -k 5 30 "$rt" --root "$root" run --bundle "$work/check" "$id" \
        </dev/null >"$work/check.out" 2>"$work/check.err" || status=$?
    "$rt" --root "$root" delete -f "$id" >/dev/null 2>&1 || true
    if ((status != 0)); then
        echo "run exited with status $status: $(head -c 400 "$work/check.err")"
        return 1
    fi
    if [[ $(cat "$work/check.out") != hoist-bench-ok ]]; then
        echo "run exited 0 but the container did not print its line (got: $(head -c 200 "$work/check.out"))"
        return 1
    fi
    status=0
    timeout -k 5 30 sh -c "$(cycle "$i")" </dev/null >/dev/null 2>"$work/check.err" || status=$?
    if ((status != 0)); then
        echo "the run + delete -f cycle exited with status $status: $(head -c 400 "$work/check.err")"
        return 1
    fi
    if "$rt" --root "$root" state "$id" >/dev/null 2>&1; then
        echo "the container still exists after run + delete -f"
        return 1
    fi
}

# cycle I: the shell command hyperfine times for runtime I.
cycle() {
    local rt root id b=${2:-$bundle}
    rt=$(printf %q "${bins[$1]}")
    root=$(printf %q "$work/root-$1")
    id=hoist-bench-$1
    echo "$rt --root $root run --bundle $(printf %q "$b") $id && $rt --root $root delete -f $id"
}

subject_failed=0
timed=()
for i in "${!bins[@]}"; do
    if why=$(check "$i"); then
        timed+=("$i")
    else
        say "${names[$i]} (${bins[$i]}): FAILED the cycle, not measured: $why"
        ((i == 0)) && subject_failed=1
    fi
done
((${#timed[@]} > 0)) || die "no runtime ran the cycle; nothing to measure"

# --- one hyperfine invocation --------------------------------------------------------
mkdir -p "$OUT"
args=(--warmup "$WARMUP" --runs "$RUNS" --export-json "$OUT/cycle.json")
for i in "${timed[@]}"; do
    args+=(--command-name "${names[$i]}" "$(cycle "$i")")
done
# The bundle just copied is flushed first (see benches/pods.sh: directory creation
# beside data still being written back is ten times slower on these VMs).
sync
hyperfine "${args[@]}" ||
    die "hyperfine failed: a runtime failed the cycle while being timed (its error is above)"

# --- results -------------------------------------------------------------------------
mean() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .mean' "$OUT/cycle.json"; }
ratio() { # ratio NAME_A NAME_B: mean(A)/mean(B), or a reason why not
    local a b
    a=$(mean "$1") b=$(mean "$2")
    if [[ -z $a ]]; then echo "n/a ($1 not measured)"
    elif [[ -z $b ]]; then echo "n/a ($2 not measured)"
    else jq -rn --argjson a "$a" --argjson b "$b" '$a / $b * 100 | round / 100 | tostring + "x"'
    fi
}

{
    echo "| runtime | version | mean | ± σ | min | max |"
    echo "|---|---|---|---|---|---|"
    for i in "${timed[@]}"; do
        version=$("${bins[$i]}" --version 2>/dev/null | head -n1 || true)
        jq -r --arg n "${names[$i]}" --arg v "$version" '.results[] | select(.command == $n) |
            "| \($n) | \($v) | \(.mean * 10000 | round / 10) ms | \(.stddev * 10000 | round / 10) ms | \(.min * 10000 | round / 10) ms | \(.max * 10000 | round / 10) ms |"' \
            "$OUT/cycle.json"
    done
    ((subject_failed)) && echo "| $subject_name | | FAILED the cycle, not measured | | | |"
    echo
    echo "\`run\` of /bin/true + \`delete -f\`, busybox bundle, $RUNS runs after $WARMUP warm-up;" \
        "$(uname -r), $(nproc) CPUs, $(date -u +%Y-%m-%d)."
} >"$OUT/cycle.md"

echo
echo "== one container cycle: run /bin/true + delete -f =="
cat "$OUT/cycle.md"
echo
for peer in crun runc; do
    echo "$subject_name / $peer: $(ratio "$subject_name" "$peer")"
done
echo "(hyperfine's JSON: $OUT/cycle.json; the table: $OUT/cycle.md)"

# --- the same cycle with the default seccomp profile and memory + pids limits --------
if [[ -n $hardened ]]; then
    hard=()
    for i in "${timed[@]}"; do
        if timeout -k 5 30 sh -c "$(cycle "$i" "$hardened")" </dev/null >/dev/null 2>"$work/hard.err"; then
            hard+=("$i")
        else
            say "${names[$i]}: FAILED the hardened cycle: $(head -c 300 "$work/hard.err")"
        fi
    done
    if ((${#hard[@]} > 0)); then
        args=(--warmup "$WARMUP" --runs "$RUNS" --export-json "$OUT/hardened.json")
        for i in "${hard[@]}"; do
            args+=(--command-name "${names[$i]}" "$(cycle "$i" "$hardened")")
        done
        hyperfine "${args[@]}" || say "hyperfine failed on the hardened cycle"
        echo
        echo "== the same cycle with hoist's default seccomp profile, memory and pids limits =="
        for i in "${hard[@]}"; do
            jq -r --arg n "${names[$i]}" '.results[] | select(.command == $n) |
                "\($n): \(.mean * 10000 | round / 10) ms ± \(.stddev * 10000 | round / 10) ms"' "$OUT/hardened.json"
        done
        hmean() { jq -r --arg n "$1" '.results[] | select(.command == $n) | .mean' "$OUT/hardened.json"; }
        for peer in crun runc; do
            a=$(hmean "$subject_name") b=$(hmean "$peer")
            [[ -n $a && -n $b ]] && echo "$subject_name / $peer: $(jq -rn --argjson a "$a" --argjson b "$b" '$a / $b * 100 | round / 100 | tostring + "x"')"
        done
    fi
fi

# --- peak memory of the runtime process (max RSS over 5 foreground runs) --------------
if [[ -x /usr/bin/time ]]; then
    echo
    echo "== peak memory of the runtime process (run of /bin/true, max RSS) =="
    for i in "${timed[@]}"; do
        peak=0
        for n in 1 2 3 4 5; do
            /usr/bin/time -o "$work/rss" -f %M "${bins[$i]}" --root "$work/root-$i" run \
                --bundle "${hardened:-$bundle}" "hoist-bench-$i" </dev/null >/dev/null 2>&1 || true
            kb=$(tail -n1 "$work/rss" 2>/dev/null)
            "${bins[$i]}" --root "$work/root-$i" delete -f "hoist-bench-$i" >/dev/null 2>&1 || true
            [[ $kb =~ ^[0-9]+$ ]] && ((kb > peak)) && peak=$kb
        done
        echo "${names[$i]}: ${peak} KiB"
    done
fi

if ((subject_failed)); then
    say "$subject_name FAILED the cycle: the numbers above are the peers' only"
    exit 1
fi
