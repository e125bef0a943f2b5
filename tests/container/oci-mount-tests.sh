# Sourced by oci-tests.sh after oci-config-tests.sh (its bundle, oci, check,
# one_line_error, run_bundle): config.json's mounts of every kind podman, containerd and
# Kubernetes write, linux.maskedPaths/readonlyPaths, rootfsPropagation, root.readonly,
# linux.devices and the devices cgroup, each seen from inside the container; then the
# bad input for each. TAP.

# mountinfo_of DEST FILE: the line of FILE (a /proc/self/mountinfo) whose mount point is DEST.
mountinfo_of() { awk -v d="$1" '$5 == d' "$2"; }

# --- mounts: tmpfs, devpts, mqueue, sysfs, proc and cgroup with their options
bundle mount-kinds '["sh", "-c", "cat /proc/self/mountinfo > /tmp/mi; cp /tmp/mi /out/mountinfo; stat -c \"%a %u %g\" /scratch; stat -c %a /dev/pts/ptmx; ls /sys/fs/cgroup | tr \"\\n\" \" \"; echo; cat /sys/fs/cgroup/memory/memory.limit_in_bytes; touch /sys/fs/cgroup/x 2>/dev/null || echo cgroup-ro; ls /proc/meminfo 2>/dev/null || echo no-meminfo; ls -d /proc/self >/dev/null && echo self"]' "
c['mounts'] = [
    {'destination': '/proc', 'type': 'proc', 'source': 'proc', 'options': ['nosuid', 'noexec', 'nodev', 'subset=pid']},
    {'destination': '/dev', 'type': 'tmpfs', 'source': 'tmpfs', 'options': ['nosuid', 'strictatime', 'mode=755', 'size=65536k']},
    {'destination': '/dev/pts', 'type': 'devpts', 'source': 'devpts', 'options': ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0600', 'mode=0620', 'gid=5']},
    {'destination': '/dev/mqueue', 'type': 'mqueue', 'source': 'mqueue', 'options': ['nosuid', 'noexec', 'nodev']},
    {'destination': '/sys', 'type': 'sysfs', 'source': 'sysfs', 'options': ['nosuid', 'noexec', 'nodev', 'ro']},
    {'destination': '/sys/fs/cgroup', 'type': 'cgroup', 'source': 'cgroup', 'options': ['rprivate', 'nosuid', 'noexec', 'nodev', 'relatime', 'ro']},
    {'destination': '/tmp', 'type': 'tmpfs', 'source': 'tmpfs', 'options': ['nosuid', 'nodev']},
    {'destination': '/scratch', 'type': 'tmpfs', 'source': 'scratchfs', 'options': ['nosuid', 'nodev', 'noexec', 'noatime', 'size=1024k', 'mode=750', 'uid=12', 'gid=34']},
    {'destination': '/out', 'type': 'bind', 'source': '$scratch/mount-out', 'options': ['rbind', 'rw', 'rshared']},
]"
mkdir -p "$scratch/mount-out"
run_bundle mount-kinds "$prefix-mk"
mi="$scratch/mount-out/mountinfo"
out="$scratch/$prefix-mk.stdout"
check "mounts: create and the command succeed" test "$st" -eq 0 -a -s "$mi"
check "tmpfs with size=, mode=, uid=, gid=, noatime: the mount's options and the root's owner" \
    test "$(mountinfo_of /scratch "$mi" | grep -c 'rw,nosuid,nodev,noexec,noatime .* tmpfs scratchfs rw,size=1024k,mode=750,uid=12,gid=34')" -eq 1 \
    -a "$(sed -n 1p "$out")" = "750 12 34"
check "devpts newinstance with ptmxmode=0600 (ptmx mode 600), mode, gid" \
    test "$(sed -n 2p "$out")" = 600 -a "$(mountinfo_of /dev/pts "$mi" | grep -c 'devpts rw,.*gid=5,mode=620,ptmxmode=600')" -eq 1
check "mqueue at /dev/mqueue, nosuid,nodev,noexec" \
    test "$(mountinfo_of /dev/mqueue "$mi" | grep -c 'rw,nosuid,nodev,noexec[, ].* mqueue mqueue')" -eq 1
check "sysfs read-only at /sys" test "$(mountinfo_of /sys "$mi" | grep -c ' ro,nosuid,nodev,noexec[, ].* sysfs sysfs')" -eq 1
check "cgroup: this host's hierarchies under a read-only tmpfs" \
    test "$(sed -n 3p "$out" | grep -c 'blkio cpu cpuacct cpuset devices freezer memory pids unified')" -eq 1 \
    -a "$(mountinfo_of /sys/fs/cgroup "$mi" | grep -c ' ro,nosuid,nodev,noexec,relatime .* tmpfs cgroup')" -eq 1 \
    -a "$(grep -c cgroup-ro "$out")" -eq 1
check "... each in the container's cgroup namespace: memory's root is the container's cgroup (its 64 MiB limit)" \
    test "$(sed -n 4p "$out")" = 67108864 -a "$(mountinfo_of /sys/fs/cgroup/memory "$mi" | awk '{print $4}')" = /
check "proc with subset=pid: /proc/meminfo is gone, /proc/self is there" \
    test "$(grep -c -e no-meminfo -e '^self$' "$out")" -eq 2
check "a bind with rshared: the mount is shared inside" \
    test "$(mountinfo_of /out "$mi" | grep -c ' shared:')" -eq 1
check "a tmpfs over the rootfs's /tmp" test "$(mountinfo_of /tmp "$mi" | grep -c 'rw,nosuid,nodev[, ].* tmpfs tmpfs')" -eq 1

# --- linux.maskedPaths and readonlyPaths: the config's lists replace berth's
mkdir -p "$scratch/maskme/sub" "$scratch/maskme/ro" "$scratch/maskme/rw"
echo secret >"$scratch/maskme/secret"
echo inside >"$scratch/maskme/sub/file"
bundle masks '["sh", "-c", "cat /m/secret; echo .; ls /m/sub; echo .; touch /m/sub/x 2>/dev/null || echo sub-ro; touch /m/ro/x 2>/dev/null || echo ro-ro; touch /m/rw/x && echo rw-rw; wc -c </proc/timer_list; cat /proc/self/mountinfo"]' "
c['mounts'].append({'destination': '/m', 'type': 'bind', 'source': '$scratch/maskme', 'options': ['rbind']})
c['linux']['maskedPaths'] = ['/m/secret', '/m/sub', '/m/not-there']
c['linux']['readonlyPaths'] = ['/m/ro']"
run_bundle masks "$prefix-mask"
out="$scratch/$prefix-mask.stdout"
check "maskedPaths: a file reads empty (/dev/null over it), a directory lists empty, a missing path is skipped" \
    test "$st" -eq 0 -a "$(head -4 "$out" | tr '\n' ' ')" = ". . sub-ro ro-ro "
check "readonlyPaths: writing fails there, elsewhere in the same mount it works" \
    test "$(sed -n 5p "$out")" = rw-rw -a -f "$scratch/maskme/rw/x" -a ! -e "$scratch/maskme/ro/x"
check "the config's lists replace berth's: /proc/timer_list is readable, /proc/sys no mount of its own" \
    test "$(sed -n 6p "$out")" -gt 0 -a "$(awk '$5 == "/proc/sys"' "$out" | wc -l)" -eq 0
check "the host's files are unchanged" test "$(cat "$scratch/maskme/secret")" = secret

# --- linux.rootfsPropagation and root.readonly
mkdir -p "$scratch/prop-root"
mount --bind "$ROOTFS" "$scratch/prop-root" && mount --make-rshared "$scratch/prop-root"
for propagation in rslave rprivate; do
    bundle "prop-$propagation" '["sh", "-c", "awk \"\\$5 == \\\"/\\\"\" /proc/self/mountinfo; ls /mnt/probe"]' "
c['root']['path'] = '$scratch/prop-root'
c['linux']['rootfsPropagation'] = '$propagation'"
    st=0
    "$BERTH" --root "$ROOT" create --bundle "$scratch/prop-$propagation" "$prefix-$propagation" \
        >"$scratch/prop-$propagation.out" 2>"$scratch/err" </dev/null || st=$?
    mkdir -p "$scratch/prop-root/mnt"
    # After create, before start: a host mount below the rootfs reaches the container only
    # when its root is a slave of the host's.
    mount -t tmpfs "probe-$propagation" "$scratch/prop-root/mnt" && touch "$scratch/prop-root/mnt/probe"
    "$BERTH" --root "$ROOT" start "$prefix-$propagation" 2>>"$scratch/err"
    wait_status "$prefix-$propagation" stopped
    "$BERTH" --root "$ROOT" delete "$prefix-$propagation" 2>>"$scratch/err"
    umount "$scratch/prop-root/mnt"
    [[ $propagation == rslave ]] && rslave_status=$st
done
umount -R "$scratch/prop-root"
check "rootfsPropagation rslave: the root is a slave (master: in mountinfo)" \
    test "${rslave_status:-1}" -eq 0 -a "$(grep -c ' master:[0-9]' "$scratch/prop-rslave.out")" -eq 1
check "... and a host mount made below the rootfs after create is seen inside" \
    grep -qx /mnt/probe "$scratch/prop-rslave.out"
check "rootfsPropagation rprivate: no master, the host's mount is not seen" \
    test "$(grep -c -e ' master:' -e '^/mnt/probe' "$scratch/prop-rprivate.out")" -eq 0 -a "$st" -eq 0
bundle root-ro '["sh", "-c", "touch /rootfile 2>&1; touch /dev/shm/x && echo shm-rw; awk \"\\$5 == \\\"/\\\" {print \\$6}\" /proc/self/mountinfo"]' "
c['root']['readonly'] = True"
run_bundle root-ro "$prefix-rro"
out="$scratch/$prefix-rro.stdout"
check "root.readonly: the root is read-only (EROFS), /dev/shm stays writable" \
    test "$(grep -c 'Read-only file system' "$out")" -eq 1 -a "$(sed -n 2p "$out")" = shm-rw \
    -a "$(sed -n 3p "$out" | cut -d, -f1)" = ro

# --- linux.devices: nodes with type, numbers, mode and owner (the command, root without
# capabilities, writes only where the mode lets everyone)
bundle devices '["sh", "-c", "for d in /dev/berth-null /dev/net/berth-loop /dev/berth-fifo /dev/null; do stat -c \"%F %t:%T %a %u %g\" $d; done; echo x > /dev/null && echo written"]' "
c['linux']['devices'] = [
    {'path': '/dev/berth-null', 'type': 'c', 'major': 1, 'minor': 3, 'fileMode': 0o640, 'uid': 12, 'gid': 34},
    {'path': '/dev/net/berth-loop', 'type': 'b', 'major': 7, 'minor': 0},
    {'path': '/dev/berth-fifo', 'type': 'p', 'fileMode': 0o600},
    {'path': '/dev/null', 'type': 'c', 'major': 1, 'minor': 3, 'fileMode': 0o666, 'uid': 5},
]"
run_bundle devices "$prefix-dev"
out="$scratch/$prefix-dev.stdout"
check "linux.devices: a character device 1:3 with fileMode 0640, uid 12, gid 34" \
    test "$st" -eq 0 -a "$(sed -n 1p "$out")" = "character special file 1:3 640 12 34"
check "... a block device 7:0 in a directory made for it (0666, root)" \
    test "$(sed -n 2p "$out")" = "block special file 7:0 666 0 0"
check "... a fifo (type p)" test "$(sed -n 3p "$out")" = "fifo 0:0 600 0 0"
check "... the config's /dev/null replaces berth's (uid 5), and the node works" \
    test "$(sed -n 4p "$out")" = "character special file 1:3 666 5 0" -a "$(sed -n 5p "$out")" = written

# --- linux.resources.devices: the devices cgroup (v1 here)
if [[ -c /dev/loop-control && -d /sys/fs/cgroup/devices ]]; then
    for rules in deny allow; do
        extra=""
        [[ $rules == allow ]] && extra=", {'allow': True, 'type': 'c', 'major': 10, 'minor': 237, 'access': 'rw'}"
        bundle "devcg-$rules" '["sh", "-c", "head -c0 </dev/loop-control 2>/dev/null && echo opened || echo denied; head -c1 /dev/zero | wc -c; cat /sys/fs/cgroup/devices/devices.list"]' "
c['mounts'] += [{'destination': '/dev/loop-control', 'type': 'bind', 'source': '/dev/loop-control', 'options': ['bind']},
                {'destination': '/sys/fs/cgroup', 'type': 'cgroup', 'source': 'cgroup', 'options': ['ro']}]
c['linux']['resources']['devices'] = [{'allow': False, 'access': 'rwm'}$extra]"
        run_bundle "devcg-$rules" "$prefix-dc-$rules"
    done
    out="$scratch/$prefix-dc-deny.stdout"
    check "resources.devices deny all: /dev/loop-control (10:237) cannot be opened, /dev/zero still can" \
        test "$(head -2 "$out" | tr '\n' ' ')" = "denied 1 "
    check "... the cgroup's devices.list holds berth's own nodes, not 10:237" \
        test "$(grep -c -e '^c 1:5 rwm' -e '^c 136:\* rwm' "$out")" -eq 2 -a "$(grep -c '10:237' "$out")" -eq 0
    check "an allow rule for c 10:237 rw after it: opened, listed" \
        test "$(head -1 "$scratch/$prefix-dc-allow.stdout")" = opened \
        -a "$(grep -c '^c 10:237 rw$' "$scratch/$prefix-dc-allow.stdout")" -eq 1
else
    tap_skip "linux.resources.devices" "no /dev/loop-control or v1 devices cgroup here"
fi

refused() {  # refused TEXT ID: one line holding TEXT, status 2, no state for ID
    one_line_error "$1" && test "$st" -eq 2 -a ! -e "$ROOT/$2"
}

# --- linux.resources.devices on cgroup v2: an eBPF program attached to the container's
# v2 cgroup. berth takes that path where no v1 hierarchy holds the devices controller; on
# this hybrid host it is forced by creating the container in a mount namespace without
# the v1 devices mount (berth reads the layout from /proc/self/mountinfo), where the v2
# hierarchy (/sys/fs/cgroup/unified) is all it finds for devices. The kernel runs a v2
# cgroup's device programs before the v1 controller, for every process, whatever its v1
# cgroup (here the v1 root: allow all).
v2_mount=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/mounts)
v1_devices=$(awk '$3 == "cgroup" && $4 ~ /(^|,)devices(,|$)/ {print $2; exit}' /proc/mounts)
if [[ -c /dev/loop-control && -n $v2_mount ]]; then
    # create_v2 BUNDLE ID: create as above, without the v1 devices hierarchy in sight.
    create_v2() {
        st=0
        unshare --mount --propagation private sh -c \
            '[ -z "$1" ] || umount "$1" || exit 99; shift; exec "$@"' sh "$v1_devices" \
            "$BERTH" --root "$ROOT" create --bundle "$scratch/$1" "$2" \
            >"$scratch/$2.stdout" 2>"$scratch/err" </dev/null || st=$?
    }
    for rules in deny allow; do
        extra=""
        [[ $rules == allow ]] && extra=", {'allow': True, 'type': 'c', 'major': 10, 'minor': 237, 'access': 'rw'}"
        bundle "devv2-$rules" '["sh", "-c", "exec 2>&1; head -c0 </dev/loop-control && echo opened; head -c1 /dev/zero | wc -c; mknod /dev/lc c 10 237 2>&1 && echo made"]' "
c['mounts'] += [{'destination': '/dev/loop-control', 'type': 'bind', 'source': '/dev/loop-control', 'options': ['bind']}]
c['process']['capabilities'] = {k: ['CAP_MKNOD'] for k in ['bounding', 'effective', 'permitted']}
c['linux']['resources']['devices'] = [{'allow': False, 'access': 'rwm'}$extra]"
        id="$prefix-d2-$rules"
        create_v2 "devv2-$rules" "$id"
        v2_cgroups=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["cgroups"]))' "$ROOT/$id/record.json" 2>/dev/null)
        eval "v2_cgroups_$rules=\$v2_cgroups"
        "$BERTH" --root "$ROOT" start "$id" 2>>"$scratch/err" || st=$?
        wait_status "$id" stopped
        "$BERTH" --root "$ROOT" delete "$id" 2>>"$scratch/err" || st=$?
        eval "v2_status_$rules=\$st"
    done
    out="$scratch/$prefix-d2-deny.stdout"
    # shellcheck disable=SC2154 # set by the eval above
    check "v2 devices cgroup: the container's devices cgroup is a v2 one ($v2_mount/berth-ID)" \
        test "$v2_status_deny" -eq 0 -a -n "$(tr ' ' '\n' <<<"$v2_cgroups_deny" | grep -x "$v2_mount/berth-$prefix-d2-deny")"
    check "... deny all: opening /dev/loop-control (10:237) fails with EPERM, /dev/zero still reads" \
        test "$(sed -n 1p "$out" | grep -c 'Operation not permitted')" -eq 1 -a "$(sed -n 2p "$out")" = 1
    check "... while mknod of that same device is allowed (berth's own later 'c *:* m' rule: each access on its own)" \
        test "$(sed -n 3p "$out")" = made
    check "an allow rule for c 10:237 rw after it: opened" \
        test "$v2_status_allow" -eq 0 -a "$(head -1 "$scratch/$prefix-d2-allow.stdout")" = opened
    # shellcheck disable=SC2154
    check "... and delete removes the v2 cgroup (and with it the program)" \
        test ! -e "$v2_mount/berth-$prefix-d2-deny" -a ! -e "$v2_mount/berth-$prefix-d2-allow"
    bundle devv2-bad '["true"]' "c['linux']['resources']['devices'] = [{'allow': False, 'type': 'c', 'major': 4096, 'access': 'r'}]"
    create_v2 devv2-bad "$prefix-d2-bad"
    check "bad input on the v2 path: a major above 4095, one line naming it, status 2, no state" \
        refused "linux.resources.devices[0].major: 4096 is outside -1 to 4095" "$prefix-d2-bad"
    check "... and no v2 cgroup left" test ! -e "$v2_mount/berth-$prefix-d2-bad"
else
    tap_skip "linux.resources.devices on cgroup v2" "no /dev/loop-control or no cgroup2 mount here"
fi

# --- bad input: one line naming the field, status 2, nothing left
bad_config() {  # bad_config NAME PYTHON TEXT: create refuses the bundle with TEXT
    bundle "bad-$1" '["true"]' "$2"
    oci create --bundle "$scratch/bad-$1" "$prefix-bad-$1"
    check "bad input, $1: status 2, one line: $3" refused "$3" "$prefix-bad-$1"
}
bad_config mount-option "c['mounts'].append({'destination': '/t', 'type': 'tmpfs', 'options': ['nosuid', 'foo']})" \
    "mounts[1].options[1]: unknown option 'foo' for a tmpfs mount"
bad_config mount-value "c['mounts'].append({'destination': '/t', 'type': 'tmpfs', 'options': ['size=big']})" \
    "mounts[1].options[0]: 'size=big' wants a size like 65536k, 64m or 50%"
bad_config mount-type "c['mounts'].append({'destination': '/t', 'type': 'nfs', 'source': 'h:/x'})" \
    "mounts[1].type: 'nfs' is not a mount type berth applies"
bad_config device-type "c['linux']['devices'] = [{'path': '/dev/x', 'type': 'z', 'major': 1, 'minor': 3}]" \
    "linux.devices[0].type: 'z' is not a device type (c, u, b or p)"
bad_config device-rule "c['linux']['resources']['devices'] = [{'allow': False, 'access': 'rwx'}]" \
    "linux.resources.devices[0].access: 'rwx' is not an access of r, w and m"
bad_config propagation "c['linux']['rootfsPropagation'] = 'sideways'" \
    "linux.rootfsPropagation: 'sideways' is not a propagation (private, rprivate,"
bad_config masked-path "c['linux']['maskedPaths'] = ['/proc/kcore', 'proc/keys']" \
    "linux.maskedPaths[1]: 'proc/keys' is not an absolute path"
