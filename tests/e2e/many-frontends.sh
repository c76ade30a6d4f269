# e2e-payload: frontend
# e2e-timeout: 600
# Issue 12's "Done when" (two guests with two disks each doing IO at once, one discarding and one
# read-only; a guest destroyed in the middle of its IO while the other's goes on), played by the
# project's own frontend (boot/frontend, mode=load) instead of Linux guests (tests/e2e/many.sh):
# a guest that starts in well under a second and checks every byte it reads. domd splits its
# 32 MiB module into named disks
#   disks=a1:8M,b1:8M,h:8M,shared:ro
# and two frontends run well-formed IO without end on both their disks:
#   A: a1 (writable: writes read back, WRITE_ZEROES read back as zeros, DISCARD) as xvda and
#      shared (read-only: reads checked against the image, writes and DISCARD refused) as xvdb,
#      with grant descriptors (bit 63)
#   B: b1 and shared the same way, with guest-physical descriptors
# While both run, a third frontend H sends every hostile case (mode=hostile, as in hostile.sh)
# on a disk of its own: it must end with every case answered as allowed, and A's and B's IO must
# go on, every byte right (a hostile guest stalls nobody else and reaches nobody else's data).
# B is then destroyed in the middle of its IO and A's rounds keep coming; then A is destroyed the
# same way. Any wrong answer or byte stops a frontend with "LOAD: FAIL". domd's closing counts
# show the DISCARD requests it served. Then domd's own restart (issue 12 item 5): `xl reboot
# domd`, and a crash restart (on_crash=restart) provoked through the fault test hook, each
# followed by a new guest that domd serves correctly; the last domd stops cleanly.
. ./lib.sh
[ -n "${DISK_IMAGE:-}" ] || fail "no disk image in the payload (e2e.env)"
[ -f ./frontend.img ] || fail "no frontend image in the payload"

# disk_line TARGET VDEV [ACCESS]: a virtio disk served by domd.
disk_line() {
    echo "'backend=domd, backendtype=standalone, specification=virtio, vdev=$2, access=${3:-rw}, target=$1'"
}
# frontend_create NAME "DISK-LINES" "EXTRA": xl create of a frontend guest on pCPU 0.
frontend_create() {
    cat > "/tmp/$1.cfg" <<EOT
name = "$1"
kernel = "/payload/frontend.img"
memory = 32
vcpus = 1
cpus = "0"
disk = [ $2 ]
extra = "$3"
EOT
    fc_out=$(xl create "/tmp/$1.cfg" 2>&1) && return 0
    echo "$fc_out" | tail -n 8 | sed 's/^/E2E:   xl create: /'
    return 1
}
load_lines() { since_mark "$1" "$2" | tr -d '\r' | grep -E "^LOAD: | I load mode: "; }
# rounds_of NAME MARK: the last round the frontend reported (0 before any).
rounds_of() { r=$(load_lines "$1" "$2" | sed -n 's/^LOAD: round \([0-9]*\):.*/\1/p' | tail -n 1); echo "${r:-0}"; }
no_failure() {
    if load_lines "$1" "$2" | grep -q "^LOAD: FAIL"; then
        load_lines "$1" "$2" | sed "s/^/E2E:   $1: /"
        fail "$1: $(load_lines "$1" "$2" | grep -m1 '^LOAD: FAIL')"
    fi
}
# round_past_or_over NAME MARK N: the frontend reported a round past N, a failure, or is gone.
round_past_or_over() {
    load_lines "$1" "$2" | grep -q "^LOAD: FAIL" || [ "$(rounds_of "$1" "$2")" -gt "$3" ] || domain_gone "$1"
}
# wait_rounds NAME MARK N SECONDS: waits for a round past N; fails on a failure line, the guest's
# death (its console shown) or the timeout.
wait_rounds() {
    wait_for "$4" round_past_or_over "$1" "$2" "$3" || true
    no_failure "$1" "$2"
    if [ "$(rounds_of "$1" "$2")" -le "$3" ]; then
        since_mark "$1" "$2" | tr -d '\r' | tail -n 25 | sed "s/^/E2E:   $1: /"
        domain_gone "$1" && fail "$1 died before a round past $3"
        fail "$1: no round past $3 within $4 s"
    fi
}

GUEST_CPUS=0
dmark=$(console_mark domd)
step "xl create domd.cfg with disks=a1:8M,b1:8M,h:8M,shared:ro (ramdisk $DISK_IMAGE, $DISK_SIZE bytes), adaptive loop, pinned to pCPU 1"
# on_crash=restart and testhooks=1 for step 6's provoked crash (an unprovoked one still fails
# every check_no_crash).
xl create domd.cfg 'on_crash="restart"' 'cpus="1"' 'extra="loglevel=info idle=adaptive disks=a1:8M,b1:8M,h:8M,shared:ro testhooks=1"' ||
    fail "xl create domd"
wait_for 30 status_is ready || fail "domd never wrote data/domd/status=ready"
since_mark domd "$dmark" | tr -d '\r' | grep "I disk '" | sed 's/^/E2E:   domd: /'
[ "$(since_mark domd "$dmark" | grep -c "I disk '")" = 4 ] || fail "domd did not list 4 disks"

step "1. frontend A: a1 (writable) and shared (read-only), grant descriptors"
amark=$(console_mark a)
t0=$(now)
frontend_create a "$(disk_line a1 xvda), $(disk_line shared xvdb ro)" "mode=load addressing=grant" || fail "xl create a"
wait_rounds a "$amark" 0 30
load_lines a "$amark" | sed 's/^/E2E:   a: /'
step "A doing IO $(since "$t0") s after xl create"

step "2. frontend B: b1 (writable) and shared (read-only, A reads it too), guest-physical descriptors"
bmark=$(console_mark b)
t0=$(now)
frontend_create b "$(disk_line b1 xvda), $(disk_line shared xvdb ro)" "mode=load addressing=gpa" || fail "xl create b"
wait_rounds b "$bmark" 0 30
load_lines b "$bmark" | sed 's/^/E2E:   b: /'
a0=$(rounds_of a "$amark")
b0=$(rounds_of b "$bmark")
wait_rounds b "$bmark" $((b0 + 3)) 60
wait_rounds a "$amark" "$a0" 30
step "both at once: A from round $a0 to $(rounds_of a "$amark") while B went from round $b0 to $(rounds_of b "$bmark")"

step "2b. a hostile frontend H on disk h (every case of tests/e2e/hostile.sh, guest-physical then grant descriptors) while A and B do IO"
hmark=$(console_mark h)
a0=$(rounds_of a "$amark")
b0=$(rounds_of b "$bmark")
t0=$(now)
frontend_create h "$(disk_line h xvda)" "mode=hostile pass=both" || fail "xl create h"
h_end=$(( $(date +%s) + 300 ))
h_beat=$(( $(date +%s) + 15 ))
while ! since_mark h "$hmark" | grep -q "^HOSTILE: done "; do
    domain_exists h || { sleep 1; since_mark h "$hmark" | grep -q "^HOSTILE: done " && break
        since_mark h "$hmark" | tr -d '\r' | tail -n 20 | sed 's/^/E2E:   h: /'; fail "H died before its done line"; }
    [ "$(date +%s)" -lt "$h_end" ] || { since_mark h "$hmark" | tr -d '\r' | tail -n 5 | sed 's/^/E2E:   h: /'; fail "H did not finish within 300 s"; }
    if [ "$(date +%s)" -ge "$h_beat" ]; then
        h_beat=$(( $(date +%s) + 15 ))
        step "  ... H at $(since_mark h "$hmark" | tr -d '\r' | grep -c '^HOSTILE: ') lines; A round $(rounds_of a "$amark"), B round $(rounds_of b "$bmark")"
    fi
    sleep 1
done
since_mark h "$hmark" | tr -d '\r' | grep -E "^HOSTILE: (pass |done )" | sed 's/^/E2E:   h: /'
if since_mark h "$hmark" | grep -q "HOSTILE: FAIL\|check read FAIL\|\[unexpected\]"; then
    since_mark h "$hmark" | tr -d '\r' | grep "FAIL\|\[unexpected\]" | sed 's/^/E2E:   h: /'
    fail "H: a case failed"
fi
set -- $(since_mark h "$hmark" | tr -d '\r' | sed -n 's|^HOSTILE: done \([0-9]*\)/\([0-9]*\).*|\1 \2|p')
[ -n "${1:-}" ] && [ "$1" = "$2" ] || fail "H: not every case passed"
wait_for 30 domain_gone h || fail "H did not power off after its done line"
no_failure a "$amark"
no_failure b "$bmark"
wait_rounds a "$amark" "$a0" 30
wait_rounds b "$bmark" "$b0" 30
step "H done in $(since "$t0") s; meanwhile A went from round $a0 to $(rounds_of a "$amark"), B from $b0 to $(rounds_of b "$bmark"), every byte right"
check_no_crash domd "$dmark"

step "3. xl destroy B in the middle of its IO; A's IO goes on"
b_id=$(xl domid b)
xl_destroy b || fail "xl destroy b"
wait_for 30 domain_gone b || fail "B is still in xl list 30 s after xl destroy"
wait_for 30 since_has domd "$dmark" "domain $b_id: torn down" || fail "domd did not tear B down"
no_failure b "$bmark"
after=$(rounds_of a "$amark")
wait_rounds a "$amark" $((after + 3)) 60
step "B (domain $b_id, last round $(rounds_of b "$bmark")) gone; A went on from round $after to $(rounds_of a "$amark")"
check_no_crash domd "$dmark"

step "4. xl destroy A in the middle of its IO"
xl_destroy a || fail "xl destroy a"
wait_for 30 only_domains Domain-0 domd || fail "xl list still shows more than dom0 and domd: $(xl list | awk 'NR > 1 {print $1}' | tr '\n' ' ')"
no_failure a "$amark"
load_lines a "$amark" | tail -n 1 | sed 's/^/E2E:   a: /'

closing=$(since_mark domd "$dmark" | tr -d '\r' | grep 'virtio-disk: domain .* requests in ')
echo "$closing" | sed 's/^/E2E:   domd: /'
discards=$(echo "$closing" | sed -n 's/.* discard \([0-9]*\) .*/\1/p' | awk '{n += $1} END {print n + 0}')
[ "$discards" -ge 2 ] || fail "domd served $discards DISCARD requests, expected some from each writable disk"
[ "$(echo "$closing" | grep -c .)" = 5 ] || fail "domd closed $(echo "$closing" | grep -c .) devices, expected 5"
step "domd served $discards DISCARD requests over 5 devices (those on the read-only disk refused, as the frontends checked)"
check_no_crash domd "$dmark"

# verify_after NAME: a frontend doing only well-formed requests (mode=verify: reads and a write
# round trip in both addressings, then the whole disk) on disk a1 passes: the domd now running
# serves a new guest.
verify_after() {
    vmark=$(console_mark "$1")
    frontend_create "$1" "$(disk_line a1 xvda)" "mode=verify" || fail "xl create $1"
    wait_for 120 since_has "$1" "$vmark" "^FRONTEND: done " || {
        since_mark "$1" "$vmark" | tr -d '\r' | tail -n 20 | sed "s/^/E2E:   $1: /"
        fail "$1: no done line within 120 s"
    }
    set -- "$1" $(since_mark "$1" "$vmark" | tr -d '\r' | sed -n 's|^FRONTEND: done \([0-9]*\)/\([0-9]*\).*|\1 \2|p')
    [ -n "${2:-}" ] && [ "$2" = "$3" ] || fail "$1: $2 of $3 checks passed"
    wait_for 30 domain_gone "$1" || fail "$1 did not power off after its done line"
}
new_domid() { id=$(xl domid domd 2>/dev/null) && [ "$id" != "$1" ]; }

step "5. domd's own restart: xl reboot domd (a clean stop destroys its IOREQ servers first), then a new guest"
first=$(xl domid domd)
xl reboot domd || fail "xl reboot domd"
wait_for 40 new_domid "$first" || fail "domd did not come back after xl reboot"
check_clean_stop domd "$dmark"
dmark=$(console_mark domd)
wait_for 30 status_is ready || fail "rebooted domd not ready"
verify_after v1
step "domd domain $first -> $(xl domid domd) by xl reboot; a new guest's verify run passed on it"

step "6. a crash restart (on_crash=restart, the fault test hook), then a new guest"
second=$(xl domid domd)
xenstore-write "$(home)/data/domd/test" fault || fail "cannot write the fault hook"
wait_for 40 new_domid "$second" || fail "domd did not come back after its crash"
since_has domd "$dmark" "domd crash" || fail "domd did not report the provoked crash"
dmark=$(console_mark domd)
wait_for 30 status_is ready || fail "crash-restarted domd not ready"
verify_after v2
step "domd domain $second -> $(xl domid domd) by a crash restart; a new guest's verify run passed on it"
check_no_crash domd "$dmark"

xl shutdown -w domd || fail "xl shutdown domd"
wait_for 30 domain_gone domd || fail "domd still there after shutdown"
check_clean_stop domd "$dmark"
step "domd stopped cleanly"
