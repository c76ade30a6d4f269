# e2e-payload: guest bench
# e2e-timeout: 7200
# e2e-smp: 3
# e2e-xen-args: dom0_max_vcpus=1 dom0_vcpus_pin
# dom0's side of tools/bench (issue 11): one Linux guest with three disks of the same size, all
# RAM-backed: two virtio disks served by domd from its ramdisk (disk "packed", offered packed
# rings, which Linux takes; disk "flat", split rings only: the domd-split rows) and /dev/xvdb, a
# PV disk served by Linux blkback in dom0 from a loop device over a file in dom0's tmpfs. The guest
# runs fio (io_uring, O_DIRECT) on command (tests/e2e/guest/bench.sh); dom0 switches domd's
# loop mode at run time through data/domd/mode, reads domd's counters before and after each job
# (data/domd/stats-request -> the device's stats node and data/domd/stats) and the CPU time of
# each domain (xl list), and prints everything as "BENCH: " lines between BENCH-BEGIN and
# BENCH-END on the console. tools/lab/bench/report.py turns them into the table, JSON and plot.
#
# Placement (3 emulated CPUs, Xen's dom0_max_vcpus=1 dom0_vcpus_pin): pCPU 0 dom0 (xenstored,
# blkback, the loop device), pCPU 1 the guest (both vCPUs; fio bound to vCPU 0, which takes the
# disks' interrupts), pCPU 2 domd alone. domd is in event mode (asleep) whenever blkback is
# measured, so a spinning domd costs blkback nothing.
#
# Parameters (e2e.env, from tools/bench): BENCH_ROUNDS (3), BENCH_IOS (10000, per 4 KiB job),
# BENCH_SEQ_IOS (2000, 128 KiB reads), BENCH_GETID (2000), BENCH_IDLE_S (30), BENCH_QUIET_US
# (500, adaptive mode's quiet window).
. ./lib.sh
[ -n "${DISK_IMAGE:-}" ] || fail "no disk image in the payload (e2e.env)"
ROUNDS=${BENCH_ROUNDS:-3}
IOS=${BENCH_IOS:-10000}
SEQ_IOS=${BENCH_SEQ_IOS:-2000}
GETID=${BENCH_GETID:-2000}
IDLE_S=${BENCH_IDLE_S:-30}
QUIET_US=${BENCH_QUIET_US:-500}
t_start=$(now)
bench() { echo "BENCH: $*"; }
progress() { step "[$(since "$t_start") s] $*"; }

# ---- placement -----------------------------------------------------------------------------------
cpus=$(xl info | awk '$1 == "nr_cpus" {print $3}')
[ "${cpus:-0}" -ge 3 ] || fail "the bench needs 3 physical CPUs (dom0, guest, domd); Xen has ${cpus:-?}"
echo "BENCH-BEGIN"
bench "meta rounds=$ROUNDS ios=$IOS seq_ios=$SEQ_IOS getid=$GETID idle_s=$IDLE_S quiet_us=$QUIET_US disk_bytes=$DISK_SIZE pcpus=$cpus"
bench "meta xen=$(xl info | awk '$1 == "xen_version" {print $3}') dom0_kernel=$(uname -r)"

# domd's module: the test image twice, as two disks ("flat" offers split rings only).
cat "$DISK_IMAGE" "$DISK_IMAGE" > /tmp/domd-disks.img || fail "cannot build domd's two-disk module"
step "xl create domd.cfg (disks packed and flat, $DISK_SIZE bytes each), pinned to pCPU 2, queues=2, event mode"
dmark=$(console_mark domd)
xl create domd.cfg 'on_crash="preserve"' 'cpus="2"' 'ramdisk="/tmp/domd-disks.img"' \
    "memory=$((32 + 2 * DISK_SIZE / 1048576))" \
    "extra=\"loglevel=info idle=block queues=2 quiet_us=$QUIET_US disks=packed:$DISK_SIZE,flat:$DISK_SIZE:split\"" ||
    fail "xl create domd"
home=/local/domain/$(xl domid domd)
wait_for 30 sh -c "[ \"\$(xenstore-read $home/data/domd/status 2>/dev/null)\" = ready ]" ||
    fail "domd never wrote data/domd/status=ready"

cp "$DISK_IMAGE" /tmp/blkback.img || fail "cannot copy the disk image to dom0's tmpfs"
# shellcheck disable=SC2034 # read by guest_create
GUEST_CPUS=1 GUEST_VCPUS=2 GUEST_KERNEL_ARGS="virtio_blk.poll_queues=1"
step "xl create the guest (2 vCPUs on pCPU 1, virtio_blk.poll_queues=1): /dev/vda and /dev/vdb from domd, /dev/xvdb from blkback"
gmark=$(console_mark bench)
guest_create bench "$(VIRTIO_TARGET=packed virtio_disk domd); $(blkback_disk /tmp/blkback.img xvdb); $(VIRTIO_TARGET=flat virtio_disk domd | sed 's/vdev=xvda/vdev=xvdc/')" bench \
    devs=/dev/vda,/dev/vdb,/dev/xvdb then=idle || fail "xl create the guest"
guest_wait bench "$gmark" 120 "GUEST: bench ready"
step "guest: $(guest_line bench "$gmark" 'GUEST: bench ready')"
gid=$(xl domid bench)
tty=$(xenstore-read "/local/domain/$gid/console/tty") || fail "the guest's console has no tty"
# xvda (devid 51712) is disk packed, xvdc (51744) disk flat.
packed_dir=$home/backend/virtio_disk/$gid/51712 split_dir=$home/backend/virtio_disk/$gid/51744
devdir=$packed_dir
xenstore-read "$packed_dir/state" >/dev/null || fail "no backend directory for the guest's xvda"
xenstore-read "$split_dir/state" >/dev/null || fail "no backend directory for the guest's xvdc"

xl vcpu-list | awk 'NR > 1 {print "BENCH: placement " $1 " vcpu=" $3 " pcpu=" $4 " hard-affinity=" $7 " soft=" $9}'
bench "placement dom0=pCPU0 (dom0_max_vcpus=1 dom0_vcpus_pin; blkback and the loop device run here) guest=pCPU1 (2 vCPUs, fio bound to vCPU 0) domd=pCPU2 (alone; event mode while blkback is measured)"

# ---- talking to the guest -----------------------------------------------------------------------
# dom0 stays quiet while the guest measures: it follows the guest's console log through one open
# file (shell builtins only; a fork-per-check loop cost dom0 most of its CPU under TCG, on the
# pCPU blkback uses) and looks once a second.
exec 4< "$(console_log bench)"
cr=$(printf '\r') nl='
'
pend=
# next_line: $line is the guest log's next complete line (CR stripped); 1 at its end for now.
next_line() {
    if IFS= read -r nl_part <&4; then
        line=$pend$nl_part pend=
        line=${line%"$cr"}
        return 0
    fi
    pend=$pend$nl_part
    return 1
}
while next_line; do :; done
seq=0
# guest_cmd SECONDS COMMAND...: the guest runs it; waits for its done line. $cmd_rc is its exit
# status, $answers its answer lines.
guest_cmd() {
    gcd_limit=$1
    shift
    seq=$((seq + 1))
    answers=
    echo "$seq $*" > "$tty"
    gcd_waited=0
    while :; do
        while next_line; do
            case $line in
                *"GUEST: bench-done $seq rc="*) cmd_rc=${line##*rc=}; return 0 ;;
                *"GUEST: bench"*" $seq "*) answers=$answers$line$nl ;;
                *"GUEST: FAIL"*) fail "guest: ${line#*GUEST: }" ;;
            esac
        done
        [ "$gcd_waited" -lt "$gcd_limit" ] || { printf '%s' "$answers" | sed 's/^/E2E:   /'; fail "the guest did not finish '$*' in $gcd_limit s"; }
        gcd_waited=$((gcd_waited + 1))
        [ $((gcd_waited % 30)) != 0 ] || step "  ... still running after $gcd_waited s: $1 $2"
        sleep 1
    done
}
# answer KIND: the guest's answer lines of that kind to the last command, without their prefix.
answer() { printf '%s' "$answers" | sed -n "s/.*GUEST: bench-$1 $seq //p"; }

guest_cmd 120 info
answer info | sed 's/^/BENCH: guest /'
answer info | grep -q "^vda .*io_poll=1" ||
    fail "the guest's /dev/vda has no poll queues (virtio_blk.poll_queues=1 needs VIRTIO_BLK_F_MQ with 2 queues)"
# Which virtio disk is which (GET_ID: domd-<guest>-<devid>), and the ring format each driver took.
packed_dev=/dev/$(answer info | sed -n "s/^\(vd[a-z]*\) .*serial=domd-$gid-51712.*/\1/p")
split_dev=/dev/$(answer info | sed -n "s/^\(vd[a-z]*\) .*serial=domd-$gid-51744.*/\1/p")
[ "$packed_dev" != /dev/ ] && [ "$split_dev" != /dev/ ] || fail "cannot tell the guest's virtio disks apart by serial"
rings=$(since_mark domd "$dmark" | tr -d '\r' | grep "domain $gid device .*: Connected: ")
echo "$rings" | grep -q "device 51712: Connected: .* packed rings" || fail "disk packed is not on packed rings: $rings"
echo "$rings" | grep -q "device 51744: Connected: .* split rings" || fail "disk flat is not on split rings: $rings"
echo "$rings" | sed 's/^.*virtio-disk: /BENCH: meta-rings /'
bench "meta devices=domd:$packed_dev,domd-split:$split_dev,blkback:/dev/xvdb rings=domd:packed,domd-split:split"
step "writing the disks through before measuring"
guest_cmd 600 prep "$packed_dev" "$split_dev" /dev/xvdb
answer prep | sed 's/^/BENCH: prep /'
[ "$(answer prep | wc -l)" = 3 ] || fail "the guest did not write its disks through"

# ---- domd's mode, counters and CPU time ------------------------------------------------------------
mode=event
set_mode() {
    [ "$1" = "$mode" ] && return 0
    sm_mark=$(console_mark domd)
    xenstore-write "$home/data/domd/mode" "$1" || fail "cannot write data/domd/mode"
    wait_for 20 since_has domd "$sm_mark" "loop mode is now $1" || fail "domd did not switch to $1 mode"
    mode=$1
}
snap=0
# stats: "dev <the device's stats node> domd <data/domd/stats>", fresh from domd.
stats() {
    snap=$((snap + 1))
    st_old=$(xenstore-read "$home/data/domd/stats" 2>/dev/null) || st_old=
    xenstore-write "$home/data/domd/stats-request" "$snap" || fail "cannot write data/domd/stats-request"
    st_end=$(( $(date +%s) + 20 ))
    while :; do
        st_new=$(xenstore-read "$home/data/domd/stats" 2>/dev/null) || st_new=
        [ -n "$st_new" ] && [ "$st_new" != "$st_old" ] && break
        [ "$(date +%s)" -lt "$st_end" ] || fail "domd did not answer a stats request"
        sleep 0.1
    done
    echo "dev $(xenstore-read "$devdir/stats") domd $st_new"
}
# cpu: "dom0=S domd=S guest=S", xl list's CPU seconds.
cpu() { xl list | awk 'NR > 1 { n = $1 == "Domain-0" ? "dom0" : $1 == "bench" ? "guest" : $1; printf "%s=%s ", n, $6 }'; }
# key NAME LINE: the value of NAME=... in LINE.
key() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1; }
# per_request BEFORE AFTER: "ioreqs/request hypercalls/request" over the requests in between.
per_request() {
    awk -v r0="$(key in "$1")" -v r1="$(key in "$2")" -v w0="$(key out "$1")" -v w1="$(key out "$2")" \
        -v g0="$(key get_id "$1")" -v g1="$(key get_id "$2")" \
        -v a0="$(key ioreq_r "$1")" -v a1="$(key ioreq_r "$2")" -v b0="$(key ioreq_w "$1")" -v b1="$(key ioreq_w "$2")" \
        -v h0="$(key hypercalls "$1")" -v h1="$(key hypercalls "$2")" 'BEGIN {
            n = (r1 - r0) + (w1 - w0) + (g1 - g0)
            if (n <= 0) { print "no requests"; exit }
            printf "%.2f ioreqs/request, %.2f hypercalls/request over %d requests", ((a1 - a0) + (b1 - b0)) / n, (h1 - h0) / n, n
        }'
}

# ---- the jobs --------------------------------------------------------------------------------------
# Percentiles of fio's total latency (lat: submission to completion, what the application waits):
# with a trapping backend much of a request's time is spent inside the submitting system call
# (the QueueNotify trap), which clat alone would not count.
common="--ioengine=io_uring --direct=1 --size=$DISK_SIZE --randrepeat=1 --norandommap --cpus_allowed=0 --lat_percentiles=1 --clat_percentiles=0 --percentile_list=50:99:99.9"
job_args() {
    case $1 in
        rr4k-qd1) echo "--rw=randread --bs=4k --iodepth=1 --io_size=$((IOS * 4096))" ;;
        rw4k-qd1) echo "--rw=randwrite --bs=4k --iodepth=1 --io_size=$((IOS * 4096))" ;;
        rr4k-qd16) echo "--rw=randread --bs=4k --iodepth=16 --io_size=$((IOS * 4096))" ;;
        rw4k-qd16) echo "--rw=randwrite --bs=4k --iodepth=16 --io_size=$((IOS * 4096))" ;;
        sr128k-qd1) echo "--rw=read --bs=128k --iodepth=1 --io_size=$((SEQ_IOS * 131072))" ;;
        # (d) the zero-trap path: polled completions (io_uring IOPOLL on a poll queue).
        zt-rr4k-qd1) echo "--hipri=1 --rw=randread --bs=4k --iodepth=1 --io_size=$((IOS * 4096))" ;;
        zt-rr4k-qd16) echo "--hipri=1 --rw=randread --bs=4k --iodepth=16 --io_size=$((IOS * 4096))" ;;
    esac
}
jobs="rr4k-qd1 rw4k-qd1 rr4k-qd16 rw4k-qd16 sr128k-qd1"
bench "meta jobs=$jobs zero_trap_jobs=zt-rr4k-qd1,zt-rr4k-qd16 fio_common=$(echo "$common" | tr ' ' ,)"

# run_job ROUND BACKEND JOB
run_job() {
    case $2 in blkback) dev=/dev/xvdb ;; domd-split) dev=$split_dev devdir=$split_dir ;; *) dev=$packed_dev devdir=$packed_dir ;; esac
    rj_before='' rj_after=''
    # (stats runs in a subshell: its fail() ends only that, hence the checks.)
    [ "$2" = blkback ] || rj_before=$(stats) || fail "$rj_before"
    rj_cpu0=$(cpu) rj_t0=$(now)
    # shellcheck disable=SC2046,SC2086
    guest_cmd 900 fio "$3" "--name=$3" "--filename=$dev" $common $(job_args "$3")
    rj_wall=$(since "$rj_t0") rj_cpu1=$(cpu)
    [ "$2" = blkback ] || rj_after=$(stats) || fail "$rj_after"
    terse=$(answer fio | head -n 1)
    if [ "$cmd_rc" != 0 ] || [ -z "${terse#* }" ]; then printf '%s' "$answers" | sed 's/^/E2E:   /'; fail "fio $3 on $2 failed"; fi
    bench "fio round=$1 backend=$2 job=$3 wall=$rj_wall $terse"
    bench "cpu round=$1 backend=$2 job=$3 before $rj_cpu0"
    bench "cpu round=$1 backend=$2 job=$3 after $rj_cpu1"
    rj_note=
    if [ -n "$rj_before" ]; then
        bench "stats round=$1 backend=$2 job=$3 before $rj_before"
        bench "stats round=$1 backend=$2 job=$3 after $rj_after"
        rj_note="; $(per_request "$rj_before" "$rj_after")"
    fi
    progress "round $1 $2 $3: ${rj_wall} s$rj_note"
}
# getid ROUND BACKEND: the trap floor, GET_ID requests answered from domd's memory.
getid() {
    gi_before=$(stats) || fail "$gi_before"
    devdir=$packed_dir
    guest_cmd 900 getid "getid" "${packed_dev#/dev/}" "$GETID"
    gi_after=$(stats) || fail "$gi_after"
    gi_line=$(answer getid | head -n 1)
    [ "$cmd_rc" = 0 ] || fail "getid-lat failed: $gi_line"
    bench "getid round=$1 backend=$2 ${gi_line#getid }"
    bench "stats round=$1 backend=$2 job=getid before $gi_before"
    bench "stats round=$1 backend=$2 job=getid after $gi_after"
    progress "round $1 $2 getid: $(per_request "$gi_before" "$gi_after")"
}
# run_backend ROUND BACKEND
run_backend() {
    case $2 in
        blkback) set_mode event ;;
        domd-split) set_mode poll ;;
        domd-*) set_mode "${2#domd-}" ;;
    esac
    sleep 1
    # domd-split: the same polled device on split rings, for the 4 KiB random reads.
    case $2 in domd-split) bj="rr4k-qd1 rr4k-qd16" ;; *) bj=$jobs ;; esac
    for j in $bj; do run_job "$1" "$2" "$j"; done
    if [ "$2" = domd-poll ]; then
        run_job "$1" "$2" zt-rr4k-qd1
        run_job "$1" "$2" zt-rr4k-qd16
    fi
    case $2 in domd-split) ;; domd-*) getid "$1" "$2" ;; esac
}

r=1
while [ "$r" -le "$ROUNDS" ]; do
    # Alternating order: domd first in odd rounds, blkback first in even ones.
    if [ $((r % 2)) = 1 ]; then order="domd-poll domd-split domd-event domd-adaptive blkback"
    else order="blkback domd-adaptive domd-event domd-split domd-poll"; fi
    progress "round $r of $ROUNDS: $order"
    for b in $order; do run_backend "$r" "$b"; done
    r=$((r + 1))
done

# ---- idle CPU per mode, footprint ------------------------------------------------------------------
for m in poll event adaptive; do
    set_mode "$m"
    sleep 2
    id_cpu0=$(cpu)
    used=$(cpu_used_over domd "$IDLE_S") || fail "domd vanished"
    id_cpu1=$(cpu)
    bench "idle mode=$m seconds=$IDLE_S cpu_s=$used"
    bench "cpu idle mode=$m before $id_cpu0"
    bench "cpu idle mode=$m after $id_cpu1"
    progress "idle, $m mode: domd used $used s of CPU in $IDLE_S s"
done
set_mode event
bench "footprint image_bytes=$(stat -c %s /payload/domd.img) memory_mib=$(xl list domd | awk 'NR == 2 {print $3}') disk_bytes=$DISK_SIZE"
since_mark domd "$dmark" | tr -d '\r' | grep -m1 'footprint:' | sed 's/^.*footprint:/BENCH: footprint-log/'
final=$(stats) || fail "$final"
bench "stats final $final"
echo "BENCH-END"

guest_cmd 60 quit
xl destroy bench || fail "xl destroy the guest"
wait_for 30 domain_gone bench || fail "the guest is still in xl list"
check_no_crash domd "$dmark"
xl shutdown -w domd || fail "xl shutdown domd"
wait_for 30 domain_gone domd || fail "domd still there after shutdown"
check_clean_stop domd "$dmark"
progress "done"
