# Sourced by the benches that run crun (benches/run.sh, benches/pods.sh): crun 1.8
# refuses a hybrid host whose cgroup2 mount holds a controller, and here the v2 mount
# holds hugetlb. hugetlb_take moves it to a v1 hierarchy of its own for the run;
# hugetlb_restore (from the caller's EXIT trap) gives it back.
#
# The caller defines `say` and `remove_own_hugetlb_cgroups` (rmdir of its own cgroups
# under $hugetlb, called while restoring); cgroups of anyone else are never touched.

hugetlb=/sys/fs/cgroup/hugetlb
unified=/sys/fs/cgroup/unified
moved_hugetlb=0 made_hugetlb_dir=0 disabled_in_v2_root=0

# hugetlb's line of /proc/cgroups: field 2 is its hierarchy id (0: on the v2 mount),
# field 3 how many cgroups it has (1: only the root; a cgroup being removed still counts).
hugetlb_field() { awk -v f="$1" '$1 == "hugetlb" { print $f }' /proc/cgroups; }

# Moves hugetlb from the v2 mount to /sys/fs/cgroup/hugetlb, if it is on the v2 mount.
hugetlb_take() {
    if [[ $(hugetlb_field 2) != 0 ]] && ! mountpoint -q "$hugetlb"; then
        # An earlier umount happened while the hierarchy still had cgroups, so the
        # kernel kept it, unmounted; runtimes then write plain directories under
        # /sys/fs/cgroup/hugetlb (a tmpfs). crun accepts that; the host is left as it is.
        say "WARNING: hugetlb is on v1 hierarchy $(hugetlb_field 2) ($(hugetlb_field 3) cgroups)" \
            "but not mounted: an earlier umount left it behind; left as it is"
    fi
    if [[ -f $unified/cgroup.controllers ]] && grep -qw hugetlb "$unified/cgroup.controllers"; then
        if ! mountpoint -q "$hugetlb"; then
            say "moving hugetlb from cgroup v2 to v1 for the run (crun refuses a hybrid host otherwise)"
            if [[ ! -d $hugetlb ]]; then
                mkdir "$hugetlb"
                made_hugetlb_dir=1
            fi
            # A controller enabled in the v2 root's subtree_control cannot move; when no
            # cgroup below uses it (a test enabled it and left it on), it is switched off
            # for the run and on again after.
            if grep -qw hugetlb "$unified/cgroup.subtree_control" 2>/dev/null &&
                echo -hugetlb >"$unified/cgroup.subtree_control" 2>/dev/null; then
                disabled_in_v2_root=1
            fi
            mount -t cgroup -o hugetlb cgroup "$hugetlb"
            moved_hugetlb=1
        fi
    fi
    if [[ -f $unified/cgroup.controllers && -n $(cat "$unified/cgroup.controllers") ]]; then
        say "WARNING: $unified still holds controllers ($(cat "$unified/cgroup.controllers")): crun will refuse"
    fi
}

# Gives hugetlb back to the cgroup2 mount. If cgroups other than the caller's live in
# the hierarchy (someone else's containers), unmounting would strand them, so it is left
# mounted and the way to restore it is printed.
#
# The kernel releases an unmounted v1 hierarchy only if it has no child cgroups at the
# moment of the umount, dying ones included; otherwise the hierarchy lives on, unmounted,
# and keeps the controller from v2 for good. So: wait until only the root cgroup is left,
# unmount, and if the controller still does not come back, mount it again (that reuses
# the hierarchy) and unmount once more.
hugetlb_restore() {
    ((moved_hugetlb)) || return 0
    local d others i attempt
    for i in $(seq 40); do
        remove_own_hugetlb_cgroups
        others=$(find "$hugetlb" -mindepth 1 -type d | head -n 5)
        [[ -z $others && $(hugetlb_field 3) == 1 ]] && break
        sleep 0.5
    done
    if [[ -n $others ]]; then
        say "WARNING: cgroups other than the bench's remain under $hugetlb:"
        for d in $others; do say "  $d"; done
        say "WARNING: hugetlb left on cgroup v1; once they are gone, restore the host with:"
        say "  umount $hugetlb && rmdir $hugetlb"
        return 0
    fi
    for attempt in 1 2 3; do
        umount "$hugetlb" || { say "WARNING: umount $hugetlb failed; hugetlb is still on v1"; return 0; }
        for i in $(seq 30); do
            [[ $(hugetlb_field 2) == 0 ]] && break
            sleep 0.1
        done
        [[ $(hugetlb_field 2) == 0 ]] && break
        mount -t cgroup -o hugetlb cgroup "$hugetlb" || break
    done
    if ((made_hugetlb_dir)) && ! mountpoint -q "$hugetlb"; then rmdir "$hugetlb"; fi
    for i in $(seq 30); do
        if grep -qw hugetlb "$unified/cgroup.controllers"; then
            if ((disabled_in_v2_root)); then echo +hugetlb >"$unified/cgroup.subtree_control"; fi
            return 0
        fi
        sleep 0.1
    done
    say "WARNING: hugetlb did not come back to $unified/cgroup.controllers (/proc/cgroups:" \
        "hierarchy $(hugetlb_field 2)); restore the host with:"
    say "  mkdir -p $hugetlb && mount -t cgroup -o hugetlb cgroup $hugetlb && umount $hugetlb && rmdir $hugetlb"
    return 0
}
