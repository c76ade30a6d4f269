# domd's lifecycle under xl: `xl reboot` brings it back up serving, `xl shutdown` powers it off
# cleanly, `xl destroy` removes it. Each instance must stop through its orderly path (or, for
# destroy, at least never crash): a crash after taking a request would otherwise look like a
# reboot, since on_crash="restart".
. ./lib.sh


mark=$(console_mark domd)
xl create domd.cfg 'on_crash="preserve"' || fail "xl create"
wait_for 30 status_is ready || fail "domd not ready"
first=$(xl domid domd)
step "domd up as domain $first; features: poweroff=$(xenstore-read /local/domain/$first/control/feature-poweroff) reboot=$(xenstore-read /local/domain/$first/control/feature-reboot)"

step "xl reboot"
xl reboot domd || fail "xl reboot"
new_domid() { id=$(xl domid domd 2>/dev/null) && [ "$id" != "$first" ]; }
wait_for 40 new_domid || fail "domd did not come back after reboot"
since_has domd "$mark" "reboot requested" || fail "domd did not log the reboot request"
check_clean_stop domd "$mark"
mark=$(console_mark domd)
wait_for 30 status_is ready || fail "rebooted domd not ready"
second=$(xl domid domd)
step "domd rebooted cleanly: domain $first -> $second, serving again ($(log_count domd 'Xen driver domain') banners in its log)"

step "xl shutdown"
xl shutdown -w domd || fail "xl shutdown"
wait_for 30 domain_gone domd || fail "domd still there after shutdown"
since_has domd "$mark" "poweroff requested" || fail "domd did not log the poweroff request"
check_clean_stop domd "$mark"
step "powered off cleanly"

step "xl destroy"
mark=$(console_mark domd)
xl create domd.cfg 'on_crash="preserve"' || fail "xl create (again)"
wait_for 30 status_is ready || fail "domd not ready (again)"
xl destroy domd || fail "xl destroy"
wait_for 30 domain_gone domd || fail "domd still there after destroy"
check_no_crash domd "$mark"
step "destroyed"
