# The core kernel under real Xen: MMU on with a printed memory map; a xenstore round trip both
# ways; a timer deadline; near-zero idle CPU in blocking mode (and a busy vCPU in polling mode);
# a deliberate fault producing a crash report and a `crash` shutdown.
. ./lib.sh

test_hook() { xenstore-write "$(home)/data/domd/test" "$1"; }

step "xl create (testhooks, blocking idle, on_crash=preserve)"
mark=$(console_mark domd)
xl create domd.cfg 'extra="loglevel=info idle=block testhooks=1"' 'on_crash="preserve"' || fail "xl create"
wait_for 30 status_is ready || fail "domd never wrote data/domd/status=ready"
log_has domd "memory map" || fail "no memory map in the console log"
show "memory map" sh -c "grep -m1 'text (r-x)' '$(console_log domd)' | sed 's/^.*I //'"
show "dom0 read data/domd/status" xenstore-read "$(home)/data/domd/status"
# Asynchronous aborts are reported, not swallowed: PSTATE.A is clear once the vectors are in.
since_has domd "$mark" "SError unmasked" || fail "SError is still masked"
show "exception masks" sh -c "grep -m1 'exception masks' '$(console_log domd)' | sed 's/^.*I //'"

step "dom0 writes, domd reacts through its watch"
test_hook "echo hello-from-dom0"
reply_is() { [ "$(xenstore-read "$(home)/data/domd/test-reply" 2>/dev/null)" = "$1" ]; }
wait_for 10 reply_is "hello-from-dom0" || fail "no reply to the echo hook"
show "domd answered" xenstore-read "$(home)/data/domd/test-reply"
xenstore-write "$(home)/data/domd/loglevel" debug
wait_for 10 log_has domd "log level is now debug" || fail "live log level change not seen"
step "live log level change seen in domd's log"

step "event channels and grant tables against real Xen (domd at both ends)"
xenstore-rm "$(home)/data/domd/test-reply"
test_hook selftest
wait_for 20 reply_is ok || fail "self-test: $(xenstore-read "$(home)/data/domd/test-reply" 2>&1)"
grep "self-test:" "$(console_log domd)" | sed 's/^.*I self-test: /E2E:   /'

step "a 300 ms timer deadline"
test_hook "timer 300"
wait_for 10 log_has domd "test timer fired" || fail "test timer never fired"
line=$(grep -m1 "test timer fired" "$(console_log domd)")
step "$line"
ms=$(echo "$line" | sed 's/.*after \([0-9]*\) ms.*/\1/')
[ "$ms" -ge 300 ] || fail "timer fired early ($ms ms)"
# Late by more than this is not scheduling noise but a wakeup from something else.
[ "$ms" -le 1000 ] || fail "timer fired late ($ms ms)"

step "idle CPU in blocking mode"
used=$(cpu_used_over domd 6) || fail "domd vanished while measuring idle CPU"
step "domd used ${used} s of CPU in 6 s of idle (blocking)"
awk -v u="$used" 'BEGIN { exit !(u <= 0.3) }' || fail "idle CPU too high in blocking mode: $used s"

check_no_crash domd "$mark"
step "a deliberate fault"
test_hook fault
wait_for 20 since_has domd "$mark" "domd crash" || fail "no crash report"
wait_for 20 sh -c 'xl list domd | awk "NR==2 {print \$5}" | grep -q c' || fail "domd not in crashed state"
since_mark domd "$mark" | grep -A3 "domd crash" | sed 's/^/E2E:   /'
since_has domd "$mark" "backtrace" || fail "crash report has no backtrace"
step "xl list: $(xl list domd | awk 'NR==2 {print $1, $5}') (crashed, preserved)"
xl destroy domd
wait_for 30 domain_gone domd || fail "crashed domd not destroyed"

step "a stack overflow hits the guard page and is still reported"
mark=$(console_mark domd)
xl create domd.cfg 'extra="loglevel=info testhooks=1"' 'on_crash="preserve"' || fail "xl create (stack)"
wait_for 30 status_is ready || fail "domd not ready (stack)"
test_hook stack-overflow
wait_for 20 since_has domd "$mark" "domd crash" || fail "no crash report for the stack overflow"
since_mark domd "$mark" | grep -A1 "domd crash" | sed 's/^/E2E:   /'
since_mark domd "$mark" | grep -A1 "domd crash" | tail -n 1 | grep -q "translation fault, level 3 on write" ||
    fail "the overflow did not fault on the guard page"
wait_for 20 sh -c 'xl list domd | awk "NR==2 {print \$5}" | grep -q c' || fail "domd not in crashed state (stack)"
xl destroy domd
wait_for 30 domain_gone domd || fail "crashed domd not destroyed (stack)"

step "polling mode keeps its vCPU busy"
mark=$(console_mark domd)
xl create domd.cfg 'extra="loglevel=info idle=poll"' 'on_crash="preserve"' || fail "xl create (poll)"
wait_for 30 status_is ready || fail "polling domd not ready"
used=$(cpu_used_over domd 3) || fail "polling domd vanished while measuring CPU"
step "domd used ${used} s of CPU in 3 s of idle (polling)"
awk -v u="$used" 'BEGIN { exit !(u >= 1.0) }' || fail "polling domd did not poll: $used s"
xl shutdown -w domd || fail "xl shutdown (poll)"
check_clean_stop domd "$mark"
wait_for 30 domain_gone domd || fail "polling domd not gone"
wait_for 30 domain_gone domd || fail "polling domd not destroyed"
