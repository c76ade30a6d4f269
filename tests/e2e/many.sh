# e2e-payload: guest
# e2e-timeout: 900
# Issue 12's many-guests case: one domd, its 32 MiB module split into named disks
#   disks=a1:8M,a2:8M,b1:8M,shared:ro
# and two Linux guests with two disks each, doing IO at the same time:
#   A: a1 (writable, discarded in part) as xvda, shared (read-only) as xvdb
#   B: b1 (writable, discarded in part) as xvda, shared (read-only) as xvdb
# Each runs tests/e2e/guest/multi.sh: the read-only disk verifies and refuses writes, DISCARD is
# offered and honoured, then O_DIRECT rounds that read back what they wrote. Shown on the way:
#   - a target that does not exist, a writable disk another guest has, and writable access to a
#     read-only disk each make `xl create` fail at once (libxl sees the device's state node go,
#     rather than waiting out its 10 s), with domd's
#     reason readable in xenstore afterwards (data/domd/last-refusal);
#   - B rebooted, then destroyed, in the middle of its IO while A's IO goes on (A's rounds keep
#     coming, and B leaves `xl list`); then A shut down in the middle of its IO;
#   - domd's own counts: DISCARD requests served; no crash; a clean stop.
. ./lib.sh
[ -n "${DISK_IMAGE:-}" ] || fail "no disk image in the payload (e2e.env)"

# disk_line TARGET VDEV [ACCESS]: a virtio disk served by domd.
disk_line() {
    echo "backend=domd, backendtype=standalone, specification=virtio, vdev=$2, access=${3:-rw}, target=$1"
}
# rounds_of NAME MARK: the last round count the guest printed.
rounds_of() { since_mark "$1" "$2" | tr -d '\r' | sed -n 's/.*GUEST: multi round \([0-9]*\).*/\1/p' | tail -n 1; }

# refused_create TARGET ACCESS REASON: a third guest asking for TARGET fails at once, and domd's
# reason is readable in xenstore afterwards (libxl removes the device's own `error` node with the
# device as it fails the creation; domd keeps the last refusal in data/domd/last-refusal).
refused_create() {
    xenstore-rm "$(home)/data/domd/last-refusal" 2>/dev/null || true
    rc_t0=$(now)
    if rc_out=$(guest_create refused "$(disk_line "$1" xvda "$2")" multi disks=1); then
        fail "xl create of a guest with target=$1 access=$2 succeeded"
    fi
    rc_took=$(since "$rc_t0")
    echo "$rc_out"
    # libxl gave up because domd refused (the state node went), not after its 10 s wait.
    echo "$rc_out" | grep -q "already removed" ||
        fail "target=$1 access=$2: xl create did not fail on domd's refusal"
    rc_reason=$(xenstore-read "$(home)/data/domd/last-refusal" 2>/dev/null) || rc_reason=
    case $rc_reason in
        *": $3") ;;
        *) fail "target=$1 access=$2: domd's last refusal in xenstore is '$rc_reason', expected '...: $3'" ;;
    esac
    wait_for 30 domain_gone refused || fail "the refused guest is still in xl list"
    step "target=$1 access=$2: xl create failed on domd's refusal after $rc_took s (building the domain included); data/domd/last-refusal: '$rc_reason'"
}

dmark=$(console_mark domd)
step "xl create domd.cfg with disks=a1:8M,a2:8M,b1:8M,shared:ro (ramdisk $DISK_IMAGE, $DISK_SIZE bytes)"
xl create domd.cfg 'on_crash="preserve"' 'extra="loglevel=info idle=block disks=a1:8M,a2:8M,b1:8M,shared:ro"' ||
    fail "xl create domd"
wait_for 30 status_is ready || fail "domd never wrote data/domd/status=ready"
since_mark domd "$dmark" | tr -d '\r' | grep "I disk '" | sed 's/^/E2E:   domd: /'
[ "$(since_mark domd "$dmark" | grep -c "I disk '")" = 4 ] || fail "domd did not list 4 disks"
shared_sha=$(dd if="$DISK_IMAGE" bs=1048576 skip=24 count=8 2>/dev/null | sha256sum | cut -d' ' -f1)

step "1. a target domd does not have"
refused_create nosuch rw "no such disk"

step "2. guest A: a1 (writable) and shared (read-only)"
amark=$(console_mark a)
guest_create a "$(disk_line a1 xvda); $(disk_line shared xvdb ro)" multi disks=2 ro_sha256="$shared_sha" ||
    fail "xl create a"
guest_wait a "$amark" 240 "GUEST: multi io running"
guest_show a "$amark"

step "3. what A holds cannot be had again"
refused_create a1 rw "disk in use by another guest"
refused_create shared rw "disk is read-only"

step "4. guest B: b1 (writable) and shared (read-only, A reads it too), both guests doing IO"
bmark=$(console_mark b)
guest_create b "$(disk_line b1 xvda); $(disk_line shared xvdb ro)" multi disks=2 ro_sha256="$shared_sha" ||
    fail "xl create b"
guest_wait b "$bmark" 240 "GUEST: multi io running"
guest_show b "$bmark"
# Both make progress while both run (each prints every 10 rounds; neither waits for the other).
a0=$(rounds_of a "$amark")
guest_wait a "$amark" 120 "GUEST: multi round $(( (${a0:-0} / 10 + 1) * 10 ))"
guest_wait b "$bmark" 120 "GUEST: multi round 10"
domain_exists a && domain_exists b || fail "a guest vanished while both were doing IO"
step "both at once: A went from round ${a0:-0} to $(rounds_of a "$amark") while B did $(rounds_of b "$bmark") rounds"

step "5. xl reboot B in the middle of its IO: B comes back on its disks; A's IO goes on"
b_id=$(xl domid b)
bmark=$(console_mark b)
xl reboot b || fail "xl reboot b"
b_new() { id=$(xl domid b 2>/dev/null) && [ "$id" != "$b_id" ]; }
wait_for 60 b_new || fail "B did not come back after xl reboot"
guest_wait b "$bmark" 240 "GUEST: multi io running"
wait_for 30 since_has domd "$dmark" "domain $b_id: torn down" || fail "domd did not tear the first B down"
step "B rebooted during IO: domain $b_id -> $(xl domid b), doing IO again; A at round $(rounds_of a "$amark")"

step "6. xl destroy B in the middle of its IO; A's IO goes on"
b_id=$(xl domid b)
xl_destroy b || fail "xl destroy b"
wait_for 30 domain_gone b || fail "B is still in xl list 30 s after xl destroy"
wait_for 30 since_has domd "$dmark" "domain $b_id: torn down" || fail "domd did not tear B down"
after=$(rounds_of a "$amark")
guest_wait a "$amark" 120 "GUEST: multi round $(( (${after:-0} / 10 + 2) * 10 ))"
step "B (domain $b_id) gone; A went on from round ${after:-0} to $(rounds_of a "$amark")"
check_no_crash domd "$dmark"

step "7. xl shutdown A in the middle of its IO"
a_id=$(xl domid a)
xl shutdown -w a >/dev/null 2>&1 &
wait_for 90 domain_gone a || fail "A still in xl list 90 s after xl shutdown"
wait_for 30 since_has domd "$dmark" "domain $a_id: torn down" || fail "domd did not tear A down"
wait_for 30 only_domains Domain-0 domd || fail "xl list still shows more than dom0 and domd: $(xl list | awk 'NR > 1 {print $1}' | tr '\n' ' ')"
step "A (domain $a_id) shut down during IO at round $(rounds_of a "$amark") and torn down"

closing=$(since_mark domd "$dmark" | tr -d '\r' | grep 'virtio-disk: domain .* requests in ')
echo "$closing" | sed 's/^/E2E:   domd: /'
discards=$(echo "$closing" | sed -n 's/.* discard \([0-9]*\) .*/\1/p' | awk '{n += $1} END {print n + 0}')
[ "$discards" -ge 2 ] || fail "domd served $discards DISCARD requests, expected one per writable disk at least"
step "domd served $discards DISCARD requests over $(echo "$closing" | grep -c .) devices"
check_no_crash domd "$dmark"
xl shutdown -w domd || fail "xl shutdown domd"
wait_for 30 domain_gone domd || fail "domd still there after shutdown"
check_clean_stop domd "$dmark"
step "domd stopped cleanly"
