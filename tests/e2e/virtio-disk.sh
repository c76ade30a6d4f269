# e2e-payload: guest
# e2e-timeout: 1200
# Issue 10's "Done when": domd serves a virtio disk to a stock Debian guest. domd starts with
# its ramdisk= (the test image: known size and sha256) and a Linux guest with
#   disk = [ 'backend=domd, backendtype=standalone, specification=virtio, vdev=xvda, target=...' ]
# runs tests/e2e/guest/disk.sh on /dev/vda: size; the driver negotiated a flush (write_cache
# "write back": VIRTIO_BLK_F_FLUSH) and multi-segment requests (max_segments > 1: SEG_MAX);
# whole-disk checksum; O_DIRECT write-then-read; flush; mke2fs/mount/write/sync/umount/mount/
# verify. Three guest starts prove the rest:
#   1. guest A, domd's loop in event mode: the fresh-disk test
#   2. `xl reboot` of A, loop in poll mode: the file A wrote is still there, the test passes
#      again, then A does O_DIRECT IO without end and dom0 destroys it in the middle; A leaves
#      `xl list` (no zombie: domd kept nothing of it mapped)
#   3. guest B, loop in event mode: domd serves the next guest (the whole test once more)
# Then domd stops cleanly. The loop mode is switched at run time through xenstore
# (data/domd/mode = poll|event under domd's home) and each switch is checked by domd's CPU use
# while the guest idles: a polling loop keeps its vCPU busy, an event-driven one sleeps.
# Timings printed: xl create to the guest's /init and to a usable /dev/vda; domd's RAM.
. ./lib.sh
[ -n "${DISK_IMAGE:-}" ] || fail "no disk image in the payload (e2e.env)"

# set_mode poll|event: switch domd's loop and see it take effect in domd's CPU use over 2 s.
set_mode() {
    xenstore-write "$(home)/data/domd/mode" "$1" || fail "cannot write data/domd/mode"
    sm_end=$(( $(date +%s) + 20 ))
    while :; do
        used=$(cpu_used_over domd 2) || fail "domd vanished while switching to $1 mode"
        case $1 in
            poll) awk -v u="$used" 'BEGIN { exit !(u >= 1.0) }' && break ;;
            event) awk -v u="$used" 'BEGIN { exit !(u <= 0.3) }' && break ;;
        esac
        [ "$(date +%s)" -lt "$sm_end" ] || fail "domd's CPU use does not match $1 mode: $used s in 2 s"
    done
    step "domd loop mode: $1 (domd used $used s of CPU in 2 s with the guest idle)"
}
# run_guest_test NAME MARK T0 PHASE: waits for the disk test of that instance; prints its lines
# and the time from T0 to its usable /dev/vda; fails unless it passed in PHASE.
run_guest_test() {
    guest_wait "$1" "$2" 90 "GUEST: init"
    t_init=$(since "$3")
    guest_wait "$1" "$2" 90 "GUEST: disk ready"
    step "$1: guest /init ${t_init} s, /dev/vda usable $(since "$3") s after xl create (or reboot)"
    guest_wait "$1" "$2" 300 "GUEST: disk-test passed|GUEST: test-exit"
    guest_show "$1" "$2"
    guest_line "$1" "$2" "disk-test passed phase=$4" >/dev/null || fail "$1: the disk test did not pass in phase $4"
}
params="dev=/dev/vda size=$DISK_SIZE sha256=$DISK_SHA256 then=idle"

# A polling loop and the guest on the same physical CPU starve each other under TCG: domd on
# pCPU 1, the guest on pCPU 0 (dom0 floats).
GUEST_CPUS=0
step "xl create domd.cfg (ramdisk $DISK_IMAGE: $DISK_SIZE bytes, sha256 $DISK_SHA256), pinned to pCPU 1"
dmark=$(console_mark domd)
xl create domd.cfg 'on_crash="preserve"' 'cpus="1"' || fail "xl create domd"
wait_for 30 status_is ready || fail "domd never wrote data/domd/status=ready"
step "domd up as domain $(xl domid domd): $(xl list domd | awk 'NR == 2 {print $3}') MiB, label $(xl list -Z domd | awk 'NR == 2 {print $NF}')"
since_mark domd "$dmark" | tr -d '\r' | grep -i 'disk' | sed 's/^/E2E:   domd: /' | head -n 5

step "1. guest A, event mode: the fresh disk"
set_mode event
mark=$(console_mark guest)
t0=$(now)
# shellcheck disable=SC2086
guest_create guest "$(virtio_disk domd)" disk $params again=io-loop || fail "xl create guest"
step "xl create returned after $(since "$t0") s"
run_guest_test guest "$mark" "$t0" fresh

step "2. xl reboot guest A, poll mode: the disk works again; then xl destroy in the middle of IO"
set_mode poll
first=$(xl domid guest)
mark=$(console_mark guest)
t0=$(now)
xl reboot guest || fail "xl reboot guest"
run_guest_test guest "$mark" "$t0" again
step "guest domain $first -> $(xl domid guest) after the reboot"
guest_wait guest "$mark" 60 "GUEST: io-loop running"
sleep 1
t0=$(now)
xl_destroy guest || fail "xl destroy guest (during IO)"
wait_for 30 domain_gone guest || fail "the destroyed guest is still in xl list after 30 s"
wait_for 30 only_domains Domain-0 domd || fail "xl list still shows more than dom0 and domd: $(xl list | awk 'NR > 1 {print $1}' | tr '\n' ' ')"
step "guest destroyed during IO ($(guest_line guest "$mark" 'io-loop (running|round)' | tail -n 1)); gone from xl list after $(since "$t0") s"
check_no_crash domd "$dmark"

step "3. guest B, event mode: domd serves the next guest"
set_mode event
mark=$(console_mark guest)
t0=$(now)
# shellcheck disable=SC2086
guest_create guest "$(virtio_disk domd)" disk $params || fail "xl create guest B"
run_guest_test guest "$mark" "$t0" used
xl_destroy guest || fail "xl destroy guest B"
wait_for 30 only_domains Domain-0 domd || fail "guest B still in xl list after 30 s"

check_no_crash domd "$dmark"
since_mark domd "$dmark" | tr -d '\r' | grep -Ei 'flush|segment|virtio' | tail -n 8 | sed 's/^/E2E:   domd: /'
# domd's own count, from the device's closing line: the guests' fsyncs arrived as FLUSH requests
# and large IO as multi-segment requests (SEG_MAX honoured), not just negotiated.
# What Debian's driver chose each time (ring format, features): domd logs it at Connected.
connected=$(since_mark domd "$dmark" | tr -d '\r' | grep 'virtio-disk: domain .*: Connected: ')
[ "$(echo "$connected" | grep -c .)" -ge 3 ] || fail "domd logged Connected for fewer than the 3 guest starts"
echo "$connected" | sed 's/^/E2E:   domd: /'
closing=$(since_mark domd "$dmark" | tr -d '\r' | grep 'virtio-disk: domain .* requests in ')
[ -n "$closing" ] || fail "domd logged no request counts when the guests' devices closed"
flushes=$(echo "$closing" | sed -n 's/.* flush \([0-9]*\) .*/\1/p' | awk '{n += $1} END {print n + 0}')
multi=$(echo "$closing" | sed -n 's/.*multi-segment \([0-9]*\);.*/\1/p' | awk '{n += $1} END {print n + 0}')
[ "$flushes" -gt 0 ] || fail "domd served no FLUSH request"
[ "$multi" -gt 0 ] || fail "domd served no multi-segment request"
step "domd served $flushes FLUSH and $multi multi-segment requests"
step "domd's RAM: $(xl list domd | awk 'NR == 2 {print $3}') MiB (memory= in domd.cfg)"
xl shutdown -w domd || fail "xl shutdown domd"
wait_for 30 domain_gone domd || fail "domd still there after shutdown"
check_clean_stop domd "$dmark"
step "domd stopped cleanly"
