# First light: dom0 starts domd with a stock `xl create`; domd's banner reaches xenconsoled's
# log (so `xl console` would show it); `xl list` shows domd; `xl shutdown` ends it cleanly.
. ./lib.sh

step "xl create domd.cfg"
mark=$(console_mark domd)
xl create domd.cfg 'on_crash="preserve"' || fail "xl create failed"
wait_for 30 log_has domd "Xen driver domain" || fail "no banner in $(console_log domd)"
show "banner" grep -m1 'Xen driver domain' "$(console_log domd)"
show "hypervisor" grep -m1 'running on Xen' "$(console_log domd)"
xl list | grep -q '^domd ' || fail "xl list does not show domd"
step "xl list shows domd (id $(xl domid domd))"
xl shutdown -w domd || fail "xl shutdown failed"
wait_for 30 domain_gone domd || fail "domd still exists after shutdown"
check_clean_stop domd "$mark"
step "domd gone after a clean xl shutdown"
