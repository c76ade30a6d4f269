# Helpers for e2e scenarios; sourced by each scenario's `run`, which dom0 executes with sh
# (busybox) in /payload. Scenarios print "E2E: ..." progress lines and exit non-zero on failure.

console_log() { echo "/var/log/xen/console/guest-$1.log"; }

fail() {
    echo "E2E: FAIL: $*"
    xl list 2>&1 | sed 's/^/E2E:   xl list: /'
    exit 1
}

step() { echo "E2E: $*"; }

# show WHAT COMMAND...: prints "E2E: WHAT: <output>" and fails when the command fails or prints
# nothing, so a step cannot pass on an empty answer.
show() {
    what=$1
    shift
    out=$("$@" 2>&1) || fail "$what: '$*' failed: $out"
    [ -n "$out" ] || fail "$what: '$*' printed nothing"
    step "$what: $out"
}

# wait_for SECONDS COMMAND...: polls COMMAND every 0.2 s until it succeeds.
wait_for() {
    limit=$1
    shift
    end=$(( $(date +%s) + limit ))
    while ! "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.2
    done
    return 0
}

domain_exists() { xl domid "$1" >/dev/null 2>&1; }
domain_gone() { ! domain_exists "$1"; }
log_has() { grep -q -- "$2" "$(console_log "$1")"; }
log_count() { c=$(grep -c -- "$2" "$(console_log "$1")" 2>/dev/null) || true; echo "${c:-0}"; }

# The console log of a domain name outlives its instances (xenconsoled appends): an instance is
# judged on the lines it wrote, from the mark taken when it was created.
console_mark() { c=$( { wc -l < "$(console_log "$1")"; } 2>/dev/null) || true; echo "${c:-0}"; }
since_mark() { tail -n "+$(( $2 + 1 ))" "$(console_log "$1")" 2>/dev/null; }
since_has() { since_mark "$1" "$2" | grep -q -- "$3"; }

# Lines that mean domd died without being asked to.
crash_pattern='domd crash|domd panic|startup failed'
# check_no_crash NAME MARK: the instance started at MARK reported no crash or panic.
check_no_crash() {
    if since_mark "$1" "$2" | grep -Eq "$crash_pattern"; then
        since_mark "$1" "$2" | grep -E -A3 "$crash_pattern" | sed 's/^/E2E:   /'
        fail "$1 crashed (unprovoked)"
    fi
}
# check_clean_stop NAME MARK: the instance started at MARK stopped through its orderly path
# (its "stopping:" line) and reported no crash or panic.
check_clean_stop() {
    check_no_crash "$1" "$2"
    since_has "$1" "$2" "stopping: loop ran" || fail "$1 did not stop cleanly (no 'stopping:' line)"
}

# domd's home in xenstore, its status node, and the set of running domains.
home() { echo "/local/domain/$(xl domid domd)"; }
status_is() { [ "$(xenstore-read "$(home)/data/domd/status" 2>/dev/null)" = "$1" ]; }
# only_domains NAME...: xl list shows exactly these domains (a zombie shows as "(null)").
only_domains() {
    [ "$(xl list | awk 'NR > 1 {print $1}' | sort | tr '\n' ' ')" = "$(printf '%s\n' "$@" | sort | tr '\n' ' ')" ]
}

# xl list's state column for one domain (r, b, p, s, c, d flags), "" if absent.
domain_state() { xl list "$1" 2>/dev/null | awk 'NR == 2 {print $5}'; }
# CPU seconds consumed so far (xl list's Time(s) column); fails if the domain is not there.
domain_cpu_seconds() {
    t=$(xl list "$1" 2>/dev/null | awk 'NR == 2 {print $6}')
    [ -n "$t" ] || return 1
    echo "$t"
}
# cpu_used_over DOMAIN SECONDS: CPU seconds the domain consumed while we slept that long. Fails
# (rather than answering 0.0) if the domain is gone at either end.
cpu_used_over() {
    before=$(domain_cpu_seconds "$1") || { echo "gone"; return 1; }
    sleep "$2"
    after=$(domain_cpu_seconds "$1") || { echo "gone"; return 1; }
    awk -v a="$after" -v b="$before" 'BEGIN { printf "%.1f", a - b }'
}

# ---- Linux guests (scenarios with "# e2e-payload: guest"; tools/lab/build-guest) -----------------
# /payload/guest holds Image, initrd.cpio.gz (with tests/e2e/guest/*.sh at /tests), guest.cfg and
# block-loop; /payload/e2e.env (run-scenario) names the disk image and its checksum.
[ -f ./e2e.env ] && . ./e2e.env

# Seconds since dom0 booted, two decimals (busybox date has no sub-second clock).
now() { cut -d' ' -f1 /proc/uptime; }
# since T0: seconds elapsed since now() said T0, one decimal.
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# guest_create NAME DISK-SPEC TEST [KEY=VALUE...]: xl create of the lab guest named NAME with a
# disk (an xl disk spec, e.g. "$(virtio_disk)" or "$(blkback_disk FILE)", or "" for none),
# running /tests/TEST.sh with guest_KEY=VALUE parameters (guest_then=idle keeps it up after the
# test). Kernel options shared by all: console=hvc0 deferred_probe_timeout=0. Several disks:
# their specs separated by ';'. When set: GUEST_CPUS pins the guest's vCPUs (xl's cpus=; kept
# across xl reboot), GUEST_VCPUS gives it that many vCPUs, GUEST_KERNEL_ARGS go on its kernel
# command line (e.g. virtio_blk.poll_queues=1: the guest's /init passes MODULE.PARAM=VALUE on).
# (sh has no local variables: the helpers' own carry a prefix, gc_ here.)
guest_create() {
    gc_name=$1 gc_disk=$2 gc_params="guest_test=$3"
    shift 3
    for gc_kv in "$@"; do gc_params="$gc_params guest_$gc_kv"; done
    set -- /payload/guest/guest.cfg "name=\"$gc_name\"" \
        "extra=\"console=hvc0 deferred_probe_timeout=0 ${GUEST_KERNEL_ARGS:+$GUEST_KERNEL_ARGS }$gc_params\""
    if [ -n "$gc_disk" ]; then
        set -- "$@" "disk=[\"$(echo "$gc_disk" | sed 's/ *; */", "/g')\"]"
    else
        set -- "$@" 'disk=[]'
    fi
    [ -z "${GUEST_CPUS:-}" ] || set -- "$@" "cpus=\"$GUEST_CPUS\""
    [ -z "${GUEST_VCPUS:-}" ] || set -- "$@" "vcpus=$GUEST_VCPUS"
    # On failure xl's own words (e.g. libxl giving up on a backend) go into the E2E lines.
    gc_out=$(xl create "$@" 2>&1) && return 0
    echo "$gc_out" | tail -n 8 | sed 's/^/E2E:   xl create: /'
    return 1
}
# The disk lines. virtio_disk: served by domd (libxl 4.17 standalone virtio disk; the target
# name is the lead's to define, E2E_VIRTIO_TARGET on the host, default disk0).
virtio_disk() {
    echo "backend=${1:-domd}, backendtype=standalone, specification=virtio, vdev=xvda, target=${VIRTIO_TARGET:-disk0}"
}
# blkback_disk FILE [VDEV]: Linux blkback in dom0 on a loop device (tools/lab/guest/block-loop).
blkback_disk() {
    echo "format=raw, vdev=${2:-xvda}, access=rw, backendtype=phy, script=/payload/guest/block-loop, target=$1"
}

# xl_destroy NAME: xl destroy that also fails on libxl's complaints (a backend that removed its
# directory too early shows only as "libxl: error: ... unable to remove device").
# On failure it shows libxl's debug lines about the device states it waited for.
xl_destroy() {
    xd_t0=$(now)
    xd_out=$(xl -vvv destroy "$1" 2>&1) && ! echo "$xd_out" | grep -q "libxl: error" && return 0
    echo "$xd_out" | grep -E "libxl: error|wanted state|backend|removal|timed out" | tail -n 20 |
        sed 's/^/E2E:   xl destroy: /'
    echo "E2E:   xl destroy took $(since "$xd_t0") s"
    return 1
}

# guest_wait NAME MARK SECONDS REGEX: waits until the instance started at MARK printed a line
# matching REGEX (grep -E); fails at once on a "GUEST: FAIL" line. (run-scenario shows the end of
# every guest console when a scenario fails.)
# Every 15 s it prints the instance's last GUEST line: the console it writes to goes to a file, and
# the lab's watchdog stops a run whose serial console stays silent for a minute.
guest_wait() {
    gw_end=$(( $(date +%s) + $3 ))
    gw_beat=$(( $(date +%s) + 15 ))
    while ! since_mark "$1" "$2" | grep -Eq -- "$4"; do
        if [ "$(date +%s)" -ge "$gw_beat" ]; then
            gw_beat=$(( $(date +%s) + 15 ))
            step "  ... $1: waiting for '$4'; last: $(since_mark "$1" "$2" | tr -d '\r' | grep 'GUEST: ' | tail -n 1)"
        fi
        if since_mark "$1" "$2" | grep -q "GUEST: FAIL"; then
            guest_show "$1" "$2"
            fail "$1: $(since_mark "$1" "$2" | grep -m1 'GUEST: FAIL' | tr -d '\r')"
        fi
        if [ "$(date +%s)" -ge "$gw_end" ]; then
            guest_show "$1" "$2"
            fail "$1: no line matching '$4' within $3 s"
        fi
        sleep 0.2
    done
}
# guest_show NAME MARK: the GUEST lines of that instance.
guest_show() {
    since_mark "$1" "$2" | tr -d '\r' | grep "GUEST: " | sed "s/^/E2E:   $1: /"
}
# guest_line NAME MARK REGEX: the first matching line of that instance, without CR.
guest_line() { since_mark "$1" "$2" | tr -d '\r' | grep -E -m1 -- "$3"; }
