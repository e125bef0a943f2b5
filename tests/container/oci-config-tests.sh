# Sourced by oci-tests.sh (its bundle, oci, check, one_line_error, status_of, wait_status):
# config.json fields applied by berth create, each seen from inside the container, and
# the bad input for each. TAP.

# run_bundle NAME ID: create, start, wait for the end, delete; the container's stdout in
# $scratch/ID.stdout, create's stderr in $scratch/err and status in $st.
run_bundle() {
    st=0
    "$BERTH" --root "$ROOT" create --bundle "$scratch/$1" "$2" \
        >"$scratch/$2.stdout" 2>"$scratch/err" </dev/null || st=$?
    if [[ $st -eq 0 ]]; then
        "$BERTH" --root "$ROOT" start "$2" 2>>"$scratch/err" || st=$?
        wait_status "$2" stopped
        "$BERTH" --root "$ROOT" delete "$2" 2>>"$scratch/err" || st=$?
    fi
}

# --- linux.seccomp
bundle seccomp-errno '["sh", "-c", "touch /tmp/g /tmp/u; chmod 770 /tmp/g; chmod 700 /tmp/u && echo chmod-u; grep ^Seccomp: /proc/self/status"]' '
def rule(name, index):
    return {"names": [name, "no_such_syscall_berth"], "action": "SCMP_ACT_ERRNO", "errnoRet": 28,
            "args": [{"index": index, "value": 0o070, "valueTwo": 0o070, "op": "SCMP_CMP_MASKED_EQ"}]}
c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
    "syscalls": [rule("chmod", 1), rule("fchmodat", 2),
                 {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]}'
run_bundle seccomp-errno "$prefix-sc"
check "linux.seccomp: a MASKED_EQ argument rule answers its errnoRet (28, ENOSPC)" \
    grep -q "/tmp/g: No space left on device" "$scratch/err" "$scratch/$prefix-sc.stdout"
check "... the same call with other arguments passes, and the filter is on (mode 2)" \
    test "$(grep -c -e chmod-u -e 'Seccomp:.2' "$scratch/$prefix-sc.stdout")" -eq 2
bundle seccomp-default '["sh", "-c", "swapon /dev/null 2>&1; mkdir -p /tmp/x && echo made"]' '
c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
    "syscalls": [{"names": ["swapoff"], "action": "SCMP_ACT_ERRNO"}]}
allow = ["read","write","open","openat","close","fstat","newfstatat","stat","lstat","mmap","munmap","mprotect","brk","rt_sigaction","rt_sigprocmask","rt_sigreturn","ioctl","access","execve","exit","exit_group","wait4","fork","vfork","clone","getpid","getppid","getuid","geteuid","getgid","getegid","arch_prctl","set_tid_address","mkdir","mkdirat","fcntl","dup2","dup3","getcwd","chdir","uname","prlimit64","getrlimit","setpgid","getpgrp","setsid","stat","statx","readlink","poll","pipe","pipe2","lseek","getdents64","futex","sched_getaffinity","set_robust_list","rseq","getrandom","sysinfo","umask"]
c["linux"]["seccomp"]["syscalls"].append({"names": allow, "action": "SCMP_ACT_ALLOW"})'
run_bundle seccomp-default "$prefix-sd"
check "linux.seccomp: defaultAction ERRNO with defaultErrnoRet 38 (swapon: ENOSYS, not EPERM)" \
    grep -q "Function not implemented" "$scratch/$prefix-sd.stdout"
check "... the allowed calls run (mkdir)" grep -qx made "$scratch/$prefix-sd.stdout"
bundle seccomp-none '["sh", "-c", "grep ^Seccomp: /proc/self/status"]'
run_bundle seccomp-none "$prefix-sn"
check "no linux.seccomp: no filter at all, as with runc (mode 0)" \
    grep -q "Seccomp:.0" "$scratch/$prefix-sn.stdout"
bundle seccomp-bad-action '["true"]' '
c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_SOMETIMES"}]}'
oci --log "$scratch/log.json" --log-format json create --bundle "$scratch/seccomp-bad-action" "$prefix-sb"
check "an unknown seccomp action: status 2, one line naming it and its JSON path" \
    one_line_error "linux.seccomp.syscalls[0].action: 'SCMP_ACT_SOMETIMES' is not a seccomp action"
check "... the same line in --log as JSON, and no state left" \
    test "$(grep -c '"level":"error".*SCMP_ACT_SOMETIMES' "$scratch/log.json")" -eq 1 -a "$st" -eq 2 -a ! -e "$ROOT/$prefix-sb"
bundle seccomp-bad-op '["true"]' '
c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ABOUT"}]}]}'
oci create --bundle "$scratch/seccomp-bad-op" "$prefix-so"
check "an unknown seccomp operator: status 2 naming its path" \
    test "$st" -eq 2 -a "$(grep -c "linux.seccomp.syscalls\[0\].args\[0\].op: 'SCMP_CMP_ABOUT'" "$scratch/err")" -eq 1
bundle seccomp-bad-arch '["true"]' 'c["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}'
oci create --bundle "$scratch/seccomp-bad-arch" "$prefix-sa"
check "an architecture libseccomp does not know: status 2 naming it" \
    one_line_error "linux.seccomp.architectures[0]: 'SCMP_ARCH_Z80' is not an architecture libseccomp knows"

# --- process: rlimits, oomScoreAdj, umask, additionalGids, ambient capabilities
bundle process-limits '["sh", "-c", "ulimit -Sn; ulimit -Hn; ulimit -c; cat /proc/self/oom_score_adj; umask; id -G; grep ^CapAmb /proc/self/status"]' '
c["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 300, "hard": 400},
                           {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]
c["process"]["oomScoreAdj"] = 345
c["process"]["user"] = {"uid": 1000, "gid": 1000, "umask": 0o027, "additionalGids": [5, 7]}
c["process"]["capabilities"] = {k: ["CAP_NET_BIND_SERVICE"] for k in
    ["bounding", "effective", "permitted", "inheritable", "ambient"]}'
run_bundle process-limits "$prefix-pl"
check "process.rlimits: RLIMIT_NOFILE soft 300 hard 400, RLIMIT_CORE 0 inside" \
    test "$(head -3 "$scratch/$prefix-pl.stdout" | tr '\n' ' ')" = "300 400 0 "
check "process.oomScoreAdj 345 in /proc/self/oom_score_adj" test "$(sed -n 4p "$scratch/$prefix-pl.stdout")" = 345
check "process.user.umask 027" test "$(sed -n 5p "$scratch/$prefix-pl.stdout")" = 0027
check "process.user.additionalGids 5 and 7 beside gid 1000" test "$(sed -n 6p "$scratch/$prefix-pl.stdout")" = "1000 5 7"
check "process.capabilities.ambient: CAP_NET_BIND_SERVICE (bit 10) for uid 1000 after exec" \
    grep -q "CapAmb:.0000000000000400" "$scratch/$prefix-pl.stdout"
bundle ambient-only '["sh", "-c", "grep ^CapAmb /proc/self/status"]' '
c["process"]["capabilities"] = {k: ["CAP_KILL"] for k in ["bounding", "effective", "permitted", "ambient"]}'
run_bundle ambient-only "$prefix-ao"
check "ambient without inheritable (as runc spec writes it): runs, the kernel's refusal skipped as runc does" \
    test "$st" -eq 0 -a "$(cat "$scratch/$prefix-ao.stdout")" = "CapAmb:	0000000000000000"
bundle bad-rlimit '["true"]' 'c["process"]["rlimits"] = [{"type": "RLIMIT_SPEED", "soft": 1, "hard": 1}]'
oci create --bundle "$scratch/bad-rlimit" "$prefix-br"
check "an unknown rlimit: status 2, one line naming it" \
    one_line_error "process.rlimits[0].type: 'RLIMIT_SPEED' is not a resource limit (known: RLIMIT_AS,"
check "... no state left" test "$st" -eq 2 -a ! -e "$ROOT/$prefix-br"
bundle high-rlimit '["true"]' 'c["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1048576, "hard": 1048576}]'
capeff=$(awk '/^CapEff/ {print $2}' /proc/self/status)
if [[ $(ulimit -Hn) -lt 1048576 ]] && (( (0x$capeff >> 24 & 1) == 0 )); then
    oci create --bundle "$scratch/high-rlimit" "$prefix-hr"
    check "an rlimit above the hard limit without CAP_SYS_RESOURCE fails create (not the command), naming it" \
        test "$st" -ne 0 -a "$(grep -c 'cannot set process.rlimits RLIMIT_NOFILE to soft 1048576' "$scratch/err")" -eq 1 -a ! -e "$ROOT/$prefix-hr"
else
    tap_skip "an rlimit berth may not raise" "this host lets berth raise RLIMIT_NOFILE"
fi

# --- hooks
hookdir="$scratch/hooks"
mkdir -p "$hookdir"
cat >"$hookdir/record" <<'EOF'
#!/bin/sh
# record STAGE: the stage, argv, env and the state on stdin, appended to $HOOK_LOG.
stage=$1
shift
state=$(cat)
printf '%s args=%s env=%s pid=%s status=%s mnt=%s\n' "$stage" "$*" "$HOOK_ENV" \
    "$(echo "$state" | sed -n 's/.*"pid": *\([0-9]*\).*/\1/p')" \
    "$(echo "$state" | sed -n 's/.*"status": *"\([a-z]*\)".*/\1/p')" \
    "$(readlink /proc/self/ns/mnt)" >>"$HOOK_LOG"
EOF
chmod +x "$hookdir/record"
printf '#!/bin/sh\necho the hook says no >&2\nexit 3\n' >"$hookdir/fail"
printf '#!/bin/sh\nsleep 30\n' >"$hookdir/slow"
chmod +x "$hookdir/fail" "$hookdir/slow"
# Hooks in the container's mount namespace see its rootfs: the log is in it (the shared
# busybox rootfs), at the same place for both kinds.
hook_log_inside="/tmp/berth-hooks-$$.log"
hook_log="$ROOTFS$hook_log_inside"
rm -f "$hook_log"
bundle hooks '["sh", "-c", "echo command ran"]' '
def hook(stage, log):
    return {"path": "'"$hookdir/record"'", "args": ["record", stage, "a1"],
            "env": ["HOOK_ENV=" + stage + "-env", "HOOK_LOG=" + log], "timeout": 10}
outside, inside = "'"$hook_log"'", "'"$hook_log_inside"'"
c["hooks"] = {"prestart": [hook("prestart", outside)], "createRuntime": [hook("createRuntime", outside)],
              "createContainer": [hook("createContainer", inside)],
              "startContainer": [hook("startContainer", inside)],
              "poststart": [hook("poststart", outside)], "poststop": [hook("poststop", outside)]}'
id="$prefix-hk"
st=0
"$BERTH" --root "$ROOT" create --bundle "$scratch/hooks" --pid-file "$scratch/hk.pid" "$id" \
    >"$scratch/hk.stdout" 2>"$scratch/err" </dev/null || st=$?
hk_pid=$(cat "$scratch/hk.pid" 2>/dev/null)
check "hooks: create runs prestart, createRuntime, createContainer in order, with args and env" \
    test "$(cut -d' ' -f1-3 "$hook_log" 2>/dev/null | tr '\n' ,)" = "prestart args=a1 env=prestart-env,createRuntime args=a1 env=createRuntime-env,createContainer args=a1 env=createContainer-env,"
check "... the state on stdin: init's pid, status created" \
    test "$(sed -n 1p "$hook_log" | grep -o "pid=[0-9]* status=[a-z]*")" = "pid=$hk_pid status=created"
check "... createContainer in the container's mount namespace, createRuntime in berth's" \
    test "$(sed -n 3p "$hook_log" | sed 's/.*mnt=//')" = "$(readlink "/proc/$hk_pid/ns/mnt")" -a \
         "$(sed -n 2p "$hook_log" | sed 's/.*mnt=//')" = "$(readlink /proc/self/ns/mnt)"
oci start "$id"
wait_status "$id" stopped
check "start runs startContainer (in the container) then poststart (status running)" \
    test "$(sed -n '4,5p' "$hook_log" | cut -d' ' -f1 | tr '\n' ,)" = "startContainer,poststart," -a \
         "$(sed -n 5p "$hook_log" | grep -o 'status=[a-z]*')" = "status=running"
oci delete "$id"
check "delete runs poststop with status stopped" \
    test "$(sed -n 6p "$hook_log" | cut -d' ' -f1)" = poststop -a "$(sed -n 6p "$hook_log" | grep -o 'status=[a-z]*')" = status=stopped
check "... and the command ran between them" grep -qx "command ran" "$scratch/hk.stdout"
bundle hook-fails '["true"]' 'c["hooks"] = {"createRuntime": [{"path": "'"$hookdir/fail"'"}]}'
oci --log "$scratch/hook.log" create --bundle "$scratch/hook-fails" "$prefix-hf"
check "a failing createRuntime hook fails create, naming the hook, its status and its words" \
    one_line_error "createRuntime hook 0 ('$hookdir/fail'): exited with status 3: the hook says no"
check "... in --log too, and nothing is left (state, init)" \
    test "$st" -ne 0 -a "$(grep -c 'level=error.*createRuntime hook 0' "$scratch/hook.log")" -eq 1 -a ! -e "$ROOT/$prefix-hf"
bundle hook-slow '["true"]' 'c["hooks"] = {"prestart": [{"path": "'"$hookdir/slow"'", "timeout": 1}]}'
oci create --bundle "$scratch/hook-slow" "$prefix-hs"
check "a prestart hook past its timeout (1 s) is killed and fails create" \
    one_line_error "prestart hook 0 ('$hookdir/slow'): timed out after 1 s"
bundle hook-missing '["true"]' 'c["hooks"] = {"poststart": [{"path": "/nonexistent/hook"}]}'
oci create --bundle "$scratch/hook-missing" "$prefix-hm"
check "a hook program that does not exist: status 2 before anything is made" \
    test "$st" -eq 2 -a ! -e "$ROOT/$prefix-hm" -a "$(grep -c "hooks.poststart\[0\].path: '/nonexistent/hook': No such file or directory" "$scratch/err")" -eq 1
bundle poststop-fails '["true"]' 'c["hooks"] = {"poststop": [{"path": "'"$hookdir/fail"'"}]}'
run_bundle poststop-fails "$prefix-pf"
check "a failing poststop hook is a warning: delete succeeds" \
    test "$st" -eq 0 -a ! -e "$ROOT/$prefix-pf" -a "$(grep -c 'warning: poststop hook 0' "$scratch/err")" -eq 1
bundle startcontainer-fails '["true"]' 'c["hooks"] = {"startContainer": [{"path": "'"$hookdir/fail"'"}]}'
oci create --bundle "$scratch/startcontainer-fails" "$prefix-sf"
oci start "$prefix-sf"
check "a failing startContainer hook fails start, naming it; the container is stopped" \
    test "$st" -ne 0 -a "$(grep -c 'startContainer hook 0' "$scratch/err")" -eq 1 && wait_status "$prefix-sf" stopped
oci delete --force "$prefix-sf"
rm -f "$hook_log"

# --- linux.cgroupsPath and update
memory_root=$(awk '$3 == "cgroup" && $4 ~ /(^|,)memory(,|$)/ {print $2; exit}' /proc/self/mounts)
[[ -z $memory_root ]] && memory_root=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
bundle cgpath '["sleep", "30"]' 'c["linux"]["cgroupsPath"] = "/berth-test-'"$$"'/ctr"'
id="$prefix-cg"
oci create --bundle "$scratch/cgpath" --pid-file "$scratch/cg.pid" "$id"
cg="$memory_root/berth-test-$$/ctr"
check "linux.cgroupsPath (absolute): init is in the cgroup under the hierarchy's root, parents made" \
    grep -qx "$(cat "$scratch/cg.pid" 2>/dev/null)" "$cg/cgroup.procs"
oci start "$id"
memory_file=$cg/memory.limit_in_bytes
[[ -e $memory_file ]] || memory_file=$cg/memory.max
pids_max=$(dirname "$(grep -l '' "$memory_root"/../pids/berth-test-$$/ctr/pids.max "$cg/pids.max" 2>/dev/null | head -1)")/pids.max
echo '{"memory": {"limit": 134217728}, "pids": {"limit": 77}, "cpu": {"quota": 50000, "period": 100000}}' >"$scratch/resources.json"
oci update --resources "$scratch/resources.json" "$id"
check "update --resources FILE: memory 128 MiB and pids 77 in the cgroup files" \
    test "$st" -eq 0 -a "$(cat "$memory_file")" = 134217728 -a "$(cat "$pids_max")" = 77
cpu_dir=$(dirname "$pids_max" | sed 's|/pids/|/cpu/|')
if [[ -e $cpu_dir/cpu.cfs_quota_us ]]; then
    check "... cpu quota 50000 per 100000" test "$(cat "$cpu_dir/cpu.cfs_quota_us") $(cat "$cpu_dir/cpu.cfs_period_us")" = "50000 100000"
else
    check "... cpu quota 50000 per 100000" grep -qx "50000 100000" "$cg/cpu.max"
fi
st=0
echo '{"memory": {"limit": -1}, "pids": {"limit": 0}}' | "$BERTH" --root "$ROOT" update -r - "$id" 2>"$scratch/err" || st=$?
check "update --resources - (stdin): -1 and 0 lift the limits" \
    test "$st" -eq 0 -a "$(cat "$pids_max")" = max -a "$(cat "$memory_file")" != 134217728
echo '{"memory": {"limit": "lots"}}' >"$scratch/bad-resources.json"
oci update --resources "$scratch/bad-resources.json" "$id"
check "update with a malformed resources file: status 2 naming the JSON path" \
    one_line_error "memory.limit: expected an integer"
oci delete --force "$id"
check "delete removes the cgroupsPath leaf (its made parent stays, as with runc)" \
    test ! -e "$cg" -a -d "$memory_root/berth-test-$$"
for dir in /sys/fs/cgroup/*/berth-test-$$ /sys/fs/cgroup/berth-test-$$; do [[ -d $dir ]] && rmdir "$dir"; done
bundle cgrel '["true"]' 'c["linux"]["cgroupsPath"] = "berth-rel-'"$$"'"'
oci create --bundle "$scratch/cgrel" "$prefix-cr"
self_memory=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ || $2 == "" {print $3; exit}' /proc/self/cgroup)
check "linux.cgroupsPath (relative): under berth's own cgroup" \
    test -d "$memory_root${self_memory%/}/berth-rel-$$"
oci delete --force "$prefix-cr"
bundle cgsystemd '["true"]' 'c["linux"]["cgroupsPath"] = "system.slice:berth:x"'
oci create --bundle "$scratch/cgsystemd" "$prefix-cs"
check "a systemd cgroupsPath (slice:prefix:name): status 2, one line" \
    one_line_error "linux.cgroupsPath: 'system.slice:berth:x', a systemd slice path"

# --- linux.namespaces joined by path, --preserve-fds
bundle holder '["sleep", "30"]' 'c["hostname"] = "holder-host"'
oci create --bundle "$scratch/holder" --pid-file "$scratch/holder.pid" "$prefix-ho"
holder=$(cat "$scratch/holder.pid")
bundle joiner '["sh", "-c", "hostname; readlink /proc/self/ns/uts; readlink /proc/self/ns/ipc"]' '
c.pop("hostname")
for ns in c["linux"]["namespaces"]:
    if ns["type"] in ("uts", "ipc"):
        ns["path"] = "/proc/'"$holder"'/ns/" + ns["type"]'
run_bundle joiner "$prefix-jo"
check "linux.namespaces uts and ipc with a path: the container is in them (the holder's hostname)" \
    test "$(tr '\n' ' ' <"$scratch/$prefix-jo.stdout")" = "holder-host $(readlink "/proc/$holder/ns/uts") $(readlink "/proc/$holder/ns/ipc") "
oci delete --force "$prefix-ho"
bundle join-missing '["true"]' 'c["linux"]["namespaces"][2]["path"] = "/proc/999999999/ns/ipc"'
oci create --bundle "$scratch/join-missing" "$prefix-jm"
check "a namespace path that does not exist: status 2, one line naming it" \
    one_line_error "linux.namespaces[2].path: '/proc/999999999/ns/ipc': No such file or directory"
bundle join-not-ns '["true"]' 'c["linux"]["namespaces"][0]["path"] = "/etc/hostname"'
oci create --bundle "$scratch/join-not-ns" "$prefix-jn"
check "a pid namespace path that is no namespace file: status 2, one line naming it, no state" \
    one_line_error "linux.namespaces[0].path: '/etc/hostname' is not a pid namespace (nor any namespace)"
check "... status 2 and no state left" test "$st" -eq 2 -a ! -e "$ROOT/$prefix-jn"
bundle join-wrong-type '["true"]' 'c["linux"]["namespaces"][4]["path"] = "/proc/'"$$"'/ns/uts"'
oci create --bundle "$scratch/join-wrong-type" "$prefix-jw"
check "a mount namespace path that is a uts namespace: status 2, one line naming both" \
    one_line_error "linux.namespaces[4].path: '/proc/$$/ns/uts' is not a mount namespace (it is a uts namespace)"
check "... and nothing left (state, cgroup)" test "$st" -eq 2 -a ! -e "$ROOT/$prefix-jw" -a \
    -z "$(find /sys/fs/cgroup -maxdepth 6 -name "berth-$prefix-jw" 2>/dev/null)"

# Every type by path at once: a holder made by unshare(1) with its own user (ids 0-65535
# mapped to the host's), pid, mount, ipc, uts, cgroup and time namespaces; the container
# must be in each (the same inode in /proc/PID/ns) and see the holder's id map.
ns_kinds="pid mnt user ipc uts cgroup"
unshare_flags=(--user --pid --mount --ipc --uts --cgroup)
if [[ -e /proc/self/ns/time ]]; then
    ns_kinds+=" time"
    unshare_flags+=(--time)
fi
unshare "${unshare_flags[@]}" --fork sleep 60 </dev/null >/dev/null 2>&1 &
unshare_pid=$!
ns_holder=
for _ in $(seq 100); do
    ns_holder=$(cat "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null | tr -d ' ')
    [[ -n $ns_holder ]] && break
    sleep 0.02
done
echo "0 0 65536" >"/proc/$ns_holder/uid_map"
echo "0 0 65536" >"/proc/$ns_holder/gid_map"
bundle join-all '["sh", "-c", "for n in '"$ns_kinds"'; do readlink /proc/self/ns/$n; done; cat /proc/self/uid_map; hostname"]' '
spec_name = {"pid": "pid", "mnt": "mount", "user": "user", "ipc": "ipc", "uts": "uts", "cgroup": "cgroup", "time": "time"}
c["linux"]["namespaces"] = [{"type": "network"}] + [{"type": spec_name[k], "path": "/proc/'"$ns_holder"'/ns/" + k} for k in "'"$ns_kinds"'".split()]
c["hostname"] = "joined-host"'
run_bundle join-all "$prefix-ja"
expected=""
for kind in $ns_kinds; do expected+="$(readlink "/proc/$ns_holder/ns/$kind") "; done
got=$(head -n "$(wc -w <<<"$ns_kinds")" "$scratch/$prefix-ja.stdout" | tr '\n' ' ')
check "linux.namespaces $ns_kinds by path: the container is in each (same /proc/PID/ns inodes as the holder)" \
    test "$st" -eq 0 -a "$got" = "$expected"
check "... sees the joined user namespace's id map (0 0 65536) and sets the joined uts's hostname" \
    test "$(sed -n "$(($(wc -w <<<"$ns_kinds") + 1))p" "$scratch/$prefix-ja.stdout" | awk '{print $1, $2, $3}')" = "0 0 65536" -a \
    "$(nsenter -t "$ns_holder" -u hostname)" = joined-host
kill -KILL "$ns_holder" "$unshare_pid" 2>/dev/null
wait "$unshare_pid" 2>/dev/null

# A joined pid namespace has its own first process: stopping the container must still
# end the command (init is not the namespace's init, so its end kills nothing by itself).
unshare --pid --fork sleep 60 </dev/null >/dev/null 2>&1 &
unshare_pid=$!
for _ in $(seq 100); do
    pid_holder=$(cat "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null | tr -d ' ')
    [[ -n $pid_holder ]] && break
    sleep 0.02
done
bundle join-pid-only '["sh", "-c", "sleep 30 & exec sleep 31"]' 'c["linux"]["namespaces"][0]["path"] = "/proc/'"$pid_holder"'/ns/pid"'
oci create --bundle "$scratch/join-pid-only" --pid-file "$scratch/jp.pid" "$prefix-jp"
oci start "$prefix-jp"
jp_init=$(cat "$scratch/jp.pid")
jp_command=
for _ in $(seq 100); do
    jp_command=$(cat "/proc/$jp_init/task/$jp_init/children" 2>/dev/null | tr -d ' ')
    [[ -n $jp_command ]] && break
    sleep 0.02
done
jp_child=
for _ in $(seq 100); do
    jp_child=$(cat "/proc/$jp_command/task/$jp_command/children" 2>/dev/null | tr -d ' ')
    [[ -n $jp_child ]] && break
    sleep 0.02
done
check "linux.namespaces pid by path alone: the command is in the holder's pid namespace" \
    test -n "$jp_command" -a "$(readlink "/proc/$jp_command/ns/pid")" = "$(readlink "/proc/$pid_holder/ns/pid")"
jp_cgroups=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["cgroups"]))' "$ROOT/$prefix-jp/record.json")
oci delete --force "$prefix-jp"
sleep 0.1
jp_left=0
for pid in $jp_command $jp_child; do
    [[ -d /proc/$pid && $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] && jp_left=$((jp_left + 1))
done
for dir in $jp_cgroups; do [[ -e $dir ]] && jp_left=$((jp_left + 1)); done
check "... delete --force ends the command and its child (which the holder adopts), its cgroups and state" \
    test "$st" -eq 0 -a -n "$jp_child" -a "$jp_left" -eq 0 -a ! -e "$ROOT/$prefix-jp"
kill -KILL "$pid_holder" "$unshare_pid" 2>/dev/null
wait "$unshare_pid" 2>/dev/null
bundle new-user '["true"]' 'c["linux"]["namespaces"].append({"type": "user"})'
oci create --bundle "$scratch/new-user" "$prefix-nu"
check "a new user namespace without id mappings: refused clearly, status 2, no state" \
    test "$st" -eq 2 -a ! -e "$ROOT/$prefix-nu" -a "$(grep -c "linux.namespaces\[5\]: a new user namespace needs linux.uidMappings and linux.gidMappings" "$scratch/err")" -eq 1
# A new user namespace with the config's maps (rootless podman's kind of config, here as
# root): root inside is host uid 100000, the rootfs's files (host root's) are nobody's.
bundle user-maps '["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; stat -c %u /bin; touch /newfile 2>/dev/null || echo not-writable; ls /dev/null >/dev/null && echo dev; readlink /proc/self/ns/user"]' '
c["linux"]["namespaces"].append({"type": "user"})
c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
c["mounts"] += [{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro"]},
                {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"}]'
run_bundle user-maps "$prefix-um"
out="$scratch/$prefix-um.stdout"
check "linux.uidMappings/gidMappings: a new user namespace with exactly these maps" \
    test "$st" -eq 0 -a "$(head -2 "$out" | tr -s ' ' | sed 's/^ //' | tr '\n' ' ')" = "0 100000 65536 0 100000 65536 "
check "... root inside, the host's root-owned files are nobody's (65534) and not writable" \
    test "$(sed -n 3,5p "$out" | tr '\n' ' ')" = "0 65534 not-writable "
check "... a user namespace other than the host's, with /dev bound from the host (sysfs, cgroup, mqueue mounted)" \
    test "$(sed -n 6p "$out")" = dev -a "$(sed -n 7p "$out")" != "$(readlink /proc/self/ns/user)"
bundle user-maps-missing '["true"]' '
c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 0}]'
oci create --bundle "$scratch/user-maps-missing" "$prefix-umm"
check "an id mapping of size 0: status 2 naming it" \
    one_line_error "linux.uidMappings[0].size: must be more than 0"

bundle domainname '["cat", "/proc/sys/kernel/domainname"]' 'c["domainname"] = "oci.example"'
run_bundle domainname "$prefix-dn"
check "domainname: the container's uts namespace has it, the host keeps its own" \
    test "$st" -eq 0 -a "$(cat "$scratch/$prefix-dn.stdout")" = oci.example -a "$(cat /proc/sys/kernel/domainname)" != oci.example

bundle preserve '["sh", "-c", "cat <&3; cat <&4 2>/dev/null || echo no-fd-4"]'
echo through-fd-3 >"$scratch/fd3"
st=0
"$BERTH" --root "$ROOT" create --preserve-fds 1 --bundle "$scratch/preserve" "$prefix-pr" \
    3<"$scratch/fd3" 4<"$scratch/fd3" >"$scratch/pr.stdout" 2>"$scratch/err" </dev/null || st=$?
"$BERTH" --root "$ROOT" start "$prefix-pr"
wait_status "$prefix-pr" stopped
check "create --preserve-fds 1: fd 3 reaches the command, fd 4 does not" \
    test "$(tr '\n' ' ' <"$scratch/pr.stdout")" = "through-fd-3 no-fd-4 "
oci delete "$prefix-pr"

# --- linux.sysctl
bundle sysctl '["sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni; echo 0 >/proc/sys/net/ipv4/ip_forward 2>/dev/null || echo read-only"]' '
c["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}'
run_bundle sysctl "$prefix-sy"
check "linux.sysctl: net.ipv4.ip_forward 1 (its own network namespace) and kernel.shmmni 1234 inside" \
    test "$(tr '\n' ' ' <"$scratch/$prefix-sy.stdout")" = "1 1234 read-only " -a "$(cat /proc/sys/kernel/shmmni)" != 1234
bundle sysctl-host '["true"]' 'c["linux"]["sysctl"] = {"kernel.panic": "5"}'
oci create --bundle "$scratch/sysctl-host" "$prefix-sh"
check "a sysctl no namespace holds (kernel.panic): status 2, one line" \
    one_line_error "linux.sysctl['kernel.panic']: is not a namespaced sysctl"

# --- linux.resources.blockIO and hugepageLimits, read back from the cgroup files
disk=
for dev in /sys/block/*/dev; do
    name=$(basename "$(dirname "$dev")")
    [[ $name == loop* || $name == ram* || $name == zram* ]] && continue
    disk=$(cat "$dev")
    break
done
if [[ -z $disk ]] || ! grep -qw blkio /proc/cgroups; then
    tap_skip "linux.resources.blockIO throttles" "no disk or no blkio controller on this host"
else
    major=${disk%:*} minor=${disk#*:}
    hugetlb_sizes=
    grep -qw hugetlb /proc/cgroups && [[ -d /sys/kernel/mm/hugepages/hugepages-2048kB ]] && hugetlb_sizes=2MB
    bundle blkio '["sleep", "30"]' '
dev = {"major": '"$major"', "minor": '"$minor"'}
c["linux"]["resources"]["blockIO"] = {
    "throttleReadBpsDevice": [dict(dev, rate=1048576)], "throttleWriteBpsDevice": [dict(dev, rate=2097152)],
    "throttleReadIOPSDevice": [dict(dev, rate=300)], "throttleWriteIOPSDevice": [dict(dev, rate=120)]}
if "'"$hugetlb_sizes"'":
    c["linux"]["resources"]["hugepageLimits"] = [{"pageSize": "2MB", "limit": 4194304}]'
    oci create --bundle "$scratch/blkio" "$prefix-bi"
    bi_cgroups=$(python3 -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["cgroups"]))' "$ROOT/$prefix-bi/record.json" 2>/dev/null)
    throttles=
    hugetlb=
    for dir in $bi_cgroups; do
        if [[ -e $dir/blkio.throttle.read_bps_device ]]; then
            throttles=$(cat "$dir"/blkio.throttle.{read_bps,write_bps,read_iops,write_iops}_device | tr '\n' ' ')
        elif [[ -e $dir/io.max ]]; then
            throttles=$(cat "$dir/io.max")
        fi
        [[ -e $dir/hugetlb.2MB.limit_in_bytes ]] && hugetlb=$(cat "$dir/hugetlb.2MB.limit_in_bytes")
        [[ -e $dir/hugetlb.2MB.max ]] && hugetlb=$(cat "$dir/hugetlb.2MB.max")
    done
    check "linux.resources.blockIO throttles: the container's blkio (io) cgroup holds all four for $disk" \
        test "$st" -eq 0 -a \( "$throttles" = "$disk 1048576 $disk 2097152 $disk 300 $disk 120 " -o \
        "$throttles" = "$disk rbps=1048576 wbps=2097152 riops=300 wiops=120" \)
    if [[ -n $hugetlb_sizes ]]; then
        check "linux.resources.hugepageLimits 2MB: the container's hugetlb cgroup holds 4194304" \
            test "$hugetlb" = 4194304
    else
        tap_skip "linux.resources.hugepageLimits" "no hugetlb controller or no 2 MB pages on this host"
    fi
    oci delete --force "$prefix-bi"
    blkio_root=$(awk '$3 == "cgroup" && $4 ~ /blkio/ {print $2; exit}' /proc/mounts)
    bundle blkio-weight '["true"]' 'c["linux"]["resources"]["blockIO"] = {"weight": 300, "weightDevice": [{"major": '"$major"', "minor": '"$minor"', "weight": 700}]}'
    if [[ -n $blkio_root && ( -e $blkio_root/blkio.weight || -e $blkio_root/blkio.bfq.weight ) ]]; then
        oci create --bundle "$scratch/blkio-weight" "$prefix-bw"
        dir=$(python3 -c 'import json,sys; print([d for d in json.load(open(sys.argv[1]))["cgroups"] if "blkio" in d][0])' "$ROOT/$prefix-bw/record.json")
        check "linux.resources.blockIO.weight 300 and a device's 700 in the blkio cgroup" \
            grep -q 300 "$dir"/blkio*weight
        oci delete --force "$prefix-bw"
    elif [[ -n $blkio_root ]]; then
        oci create --bundle "$scratch/blkio-weight" "$prefix-bw"
        check "linux.resources.blockIO.weight on a blkio cgroup without weights (no CFQ, no BFQ): one line, status 2" \
            one_line_error "linux.resources.blockIO.weight: this host's blkio cgroup has no weight file"
        check "... status 2, nothing left" test "$st" -eq 2 -a ! -e "$ROOT/$prefix-bw" -a \
            -z "$(find /sys/fs/cgroup -maxdepth 6 -name "berth-$prefix-bw" 2>/dev/null)"
    else
        tap_skip "linux.resources.blockIO.weight" "cgroup v2 io weights are not checked on this host"
    fi
fi
bundle bad-device '["true"]' 'c["linux"]["resources"]["blockIO"] = {"throttleReadBpsDevice": [{"major": 259, "minor": 99999, "rate": 1}]}'
oci create --bundle "$scratch/bad-device" "$prefix-bd"
check "a blockIO device the host lacks: status 2, one line naming its JSON path" \
    one_line_error "linux.resources.blockIO.throttleReadBpsDevice[0]: 259:99999 is not a block device of this host"
bundle bad-weight '["true"]' 'c["linux"]["resources"]["blockIO"] = {"weight": 5}'
oci create --bundle "$scratch/bad-weight" "$prefix-bw5"
check "a blockIO weight outside 10-1000: status 2 naming it" \
    test "$st" -eq 2 -a "$(grep -c "linux.resources.blockIO.weight: 5 is not a block I/O weight (10 to 1000)" "$scratch/err")" -eq 1
bundle bad-pagesize '["true"]' 'c["linux"]["resources"]["hugepageLimits"] = [{"pageSize": "3MB", "limit": 1}]'
oci create --bundle "$scratch/bad-pagesize" "$prefix-bp"
check "a hugepage size the host lacks: status 2, one line naming it, no state" \
    one_line_error "linux.resources.hugepageLimits[0].pageSize: '3MB' is not a huge page size of this host"
check "... status 2, no state" test "$st" -eq 2 -a ! -e "$ROOT/$prefix-bp"

# --- errors name config.json's fields, not `berth ct run`'s flags (the same code path
# starts both: RunOptions::shown_as)
bundle no-cwd '["true"]' 'c["process"]["cwd"] = "/nonexistent"'
oci create --bundle "$scratch/no-cwd" "$prefix-nc"
check "a process.cwd missing in the rootfs fails create (not the command after start), naming process.cwd" \
    one_line_error "process.cwd '/nonexistent' cannot be entered in the rootfs: No such file or directory"
check "... status 2, no state" test "$st" -eq 2 -a ! -e "$ROOT/$prefix-nc"
pids_mount=$(awk '$3 == "cgroup" && $4 ~ /(^|,)pids(,|$)/ {print $2; exit}' /proc/mounts)
pids_self=$(awk -F: '$2 == "pids" {print $3}' /proc/self/cgroup)
if [[ -n $pids_mount ]]; then
    # A cgroup berth-ID left behind (a berth killed before it recorded the container).
    taken="$pids_mount${pids_self%/}/berth-$prefix-ct"
    mkdir "$taken"
    bundle cg-taken '["true"]'
    oci create --bundle "$scratch/cg-taken" "$prefix-ct"
    check "a cgroup of the container's name in use: one line asking for another container ID (not --name)" \
        one_line_error "a container named '$prefix-ct' is running; choose another container ID"
    check "... status 2, no state, the other cgroup untouched" test "$st" -eq 2 -a ! -e "$ROOT/$prefix-ct" -a -d "$taken"
    rmdir "$taken"
else
    tap_skip "a cgroup name in use" "no v1 pids hierarchy here"
fi
# A command that fails after start: nobody listens on create's channel any more, so the
# line goes to the container's stderr (create's, which conmon and the shim log).
# (The script is in the shared rootfs for this case only: create resolves the command
# before the config's mounts exist.)
late="/tmp/berth-late-$$.sh"
printf '#!/nonexistent/interpreter\n' >"$ROOTFS$late"
chmod +x "$ROOTFS$late"
bundle late-failure '["'"$late"'"]'
run_bundle late-failure "$prefix-lf"
rm -f "$ROOTFS$late"
check "a command that cannot start after start: its one line on the container's stderr" \
    grep -qx "berth: cannot start container: command '$late' cannot start: its interpreter '/nonexistent/interpreter' (its #! line) is not in the rootfs" "$scratch/$prefix-lf.stdout" "$scratch/err"
# Rootless (as nobody, as podman runs rootless): what needs root names its field.
rootless_root="$scratch/rootless-state"
mkdir -p "$rootless_root"
chmod 777 "$rootless_root"
chmod o+rx "$scratch"
rootless() {  # rootless BUNDLE ID: create as nobody; stderr in $scratch/err, status in $st
    st=0
    setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$BERTH" --root "$rootless_root" create --bundle "$scratch/$1" "$2" \
        >/dev/null 2>"$scratch/err" </dev/null || st=$?
}
if command -v setpriv >/dev/null; then
    bundle rootless-user '["true"]' 'c["process"]["user"] = {"uid": 1000, "gid": 1000}'
    chmod -R o+rX "$scratch/rootless-user"
    rootless rootless-user "$prefix-ru"
    check "rootless, a process.user other than 0: one line naming process.user (not --user)" \
        one_line_error "process.user other than 0 needs root: rootless, only your own user is mapped (to 0)"
    bundle rootless-memory '["true"]' 'c["linux"]["resources"] = {"memory": {"limit": 67108864}}'
    chmod -R o+rX "$scratch/rootless-memory"
    rootless rootless-memory "$prefix-rm"
    check "rootless, a memory limit: one line naming linux.resources.memory.limit (not --memory)" \
        one_line_error "linux.resources.memory.limit needs permission to create cgroup"
    check "... status 2, no state" test "$st" -eq 2 -a -z "$(ls "$rootless_root")"
else
    tap_skip "rootless errors" "no setpriv"
fi
