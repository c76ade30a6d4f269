# e2e-payload: frontend
# e2e-timeout: 360
# Issue 12 items 6, 7 and 9: a hostile guest, under real Xen. domd serves its test disk; the
# project's own frontend (boot/frontend: a freestanding guest built from domd's layers) gets it
# through the usual libxl line
#   disk = [ 'backend=domd, backendtype=standalone, specification=virtio, vdev=xvda, target=...' ]
# and drives the virtio-mmio registers and its own split ring itself. Three guest lifetimes, one
# for each of domd's loop modes:
#   1. event mode (domd.cfg's idle=block), mode=hostile pass=gpa: every hostile case of item 6
#      with guest-physical descriptors, each followed by a well-formed read that must return the
#      disk's pattern, then the whole disk read back. One line per case,
#      "HOSTILE: gpa/<case> -> <what domd answered> ; check read ok", and "HOSTILE: done P/T".
#   2. poll mode, mode=hostile pass=grant: the same cases with grant descriptors (bit 63, the
#      frontend's pages granted to domd), the whole disk read through grants: the grant path end
#      to end (Debian's guest kernels cannot do grant-based virtio).
#   3. adaptive mode, mode=verify, after both are gone: well-formed reads and a write round trip
#      in both addressings and the whole disk: domd still serves a new guest correctly, and
#      nothing the hostile guests sent changed the disk.
# A stalled vCPU (a register access domd never answers) shows as a guest that does not finish.
# domd's console must show no crash or panic, and domd stops cleanly at the end.
# Cost: each register access of the frontend is a trap through Xen to domd and back (the
# frontend prints what one costs, and how many each pass made); in poll mode requests need none
# (the frontend honours VRING_USED_F_NO_NOTIFY).
. ./lib.sh
[ -n "${DISK_IMAGE:-}" ] || fail "no disk image in the payload (e2e.env)"
[ -f ./frontend.img ] || fail "no frontend image in the payload"

# set_mode poll|adaptive: domd's loop mode (data/domd/mode), once domd says it switched (it
# starts in event mode: domd.cfg's idle=block).
set_mode() {
    xenstore-write "$(home)/data/domd/mode" "$1" || fail "cannot write data/domd/mode"
    wait_for 20 since_has domd "$dmark" "loop mode is now $1" || fail "domd did not switch to $1 mode"
    step "domd's loop is in $1 mode"
}

# run_frontend "OPTIONS" PREFIX SECONDS: xl create of the frontend with extra="OPTIONS", its console
# lines streamed as they come (the lab's watchdog wants a console that moves), until its
# "PREFIX: done P/T" line; fails unless P = T and the guest then powered itself off.
run_frontend() {
    cat > /tmp/hostile.cfg <<EOT
name = "hostile"
kernel = "/payload/frontend.img"
memory = 32
vcpus = 1
cpus = "0"
disk = [ '$(virtio_disk domd)' ]
extra = "$1"
EOT
    rf_mark=$(console_mark hostile)
    rf_t0=$(now)
    xl create /tmp/hostile.cfg >/tmp/xl-create.log 2>&1 ||
        { sed 's/^/E2E:   xl create: /' /tmp/xl-create.log; fail "xl create of the frontend ($1)"; }
    step "frontend ($1) created in $(since "$rf_t0") s as domain $(xl domid hostile 2>/dev/null || echo '?')"
    rf_shown=0
    rf_end=$(( $(date +%s) + $3 ))
    while :; do
        rf_lines=$(since_mark hostile "$rf_mark" | tr -d '\r' | grep -E "^$2: |domd (crash|panic)| I (hostile|verify) mode: | I register read round trip| I driver: " || true)
        rf_count=$(printf '%s\n' "$rf_lines" | grep -c . || true)
        if [ "$rf_count" -gt "$rf_shown" ]; then
            printf '%s\n' "$rf_lines" | sed -n "$((rf_shown + 1)),${rf_count}p" | sed 's/^/E2E:   /'
            rf_shown=$rf_count
        fi
        printf '%s\n' "$rf_lines" | grep -q "^$2: done " && break
        if [ "$(date +%s)" -ge "$rf_end" ]; then
            since_mark hostile "$rf_mark" | tr -d '\r' | tail -n 20 | sed 's/^/E2E:   hostile console: /'
            fail "the frontend ($1) did not finish within $3 s (a stalled vCPU or a lost answer)"
        fi
        if ! domain_exists hostile; then
            sleep 1  # xenconsoled may not have written its last lines yet
            since_mark hostile "$rf_mark" | grep -q "^$2: done " && continue
            since_mark hostile "$rf_mark" | tr -d '\r' | tail -n 20 | sed 's/^/E2E:   hostile console: /'
            fail "the frontend ($1) died before its done line"
        fi
        sleep 1
    done
    rf_done=$(since_mark hostile "$rf_mark" | tr -d '\r' | grep -m1 "^$2: done ")
    step "frontend ($1): ${rf_done#*: } ($(since "$rf_t0") s after xl create)"
    wait_for 30 domain_gone hostile || fail "the frontend did not power off after its done line"
    since_mark hostile "$rf_mark" | grep -q "$2: FAIL\|check read FAIL\|\[unexpected\]" && fail "frontend ($1): a case failed"
    set -- $(echo "$rf_done" | sed -n 's|.* done \([0-9]*\)/\([0-9]*\).*|\1 \2|p')
    [ -n "${1:-}" ] && [ "$1" = "$2" ] && [ "$2" -gt 0 ] || fail "frontend: $rf_done"
}

GUEST_CPUS=0
step "xl create domd.cfg (ramdisk $DISK_IMAGE: $DISK_SIZE bytes, sha256 $DISK_SHA256), pinned to pCPU 1"
dmark=$(console_mark domd)
xl create domd.cfg 'on_crash="preserve"' 'cpus="1"' || fail "xl create domd"
wait_for 30 status_is ready || fail "domd never wrote data/domd/status=ready"
step "domd up as domain $(xl domid domd), label $(xl list -Z domd | awk 'NR == 2 {print $NF}')"

step "1. domd's loop in event mode (idle=block): the hostile cases with guest-physical descriptors"
run_frontend "mode=hostile pass=gpa" HOSTILE 150
check_no_crash domd "$dmark"
domain_exists domd || fail "domd is gone after the hostile guest"

step "2. domd's loop polling: the hostile cases with grant descriptors"
set_mode poll
run_frontend "mode=hostile pass=grant" HOSTILE 150
check_no_crash domd "$dmark"
domain_exists domd || fail "domd is gone after the hostile guest"
since_mark domd "$dmark" | tr -d '\r' | grep -E 'WARN|ERROR|virtio-disk: domain' | tail -n 12 | sed 's/^/E2E:   domd: /'

step "3. domd's loop adaptive: a new guest, well-formed requests only: domd still serves, the disk is intact"
set_mode adaptive
run_frontend "mode=verify" FRONTEND 90
check_no_crash domd "$dmark"

xl shutdown -w domd || fail "xl shutdown domd"
wait_for 30 domain_gone domd || fail "domd still there after shutdown"
check_clean_stop domd "$dmark"
since_mark domd "$dmark" | tr -d '\r' | grep -E 'virtio-disk: domain .*requests|stopping:' | sed 's/^/E2E:   domd: /'
step "domd stopped cleanly"
