# e2e-payload: flask-variants
# Least privilege under FLASK (Xen booted "xsm=flask flask=late", the project's policy loaded by
# dom0 before any domain; tools/flask/domd.te). domd, labelled domd_t by domd.cfg's seclabel,
# may be the device model of an ordinary guest (domU_t): every step of the dmprobe test hook
# succeeds. The same domd image started without the seclabel is a plain domU_t and Xen refuses
# it every step (EACCES). domd holds nothing over dom0 either. The core scenario's self-test
# (event-channel loopback, a grant of its own page) still works under the policy. And each rule
# the probe relies on is needed: with the policy reloaded without it, Xen denies that step.
. ./lib.sh

# (flask-getenforce exits with the mode's number: its output is the answer.)
enforce=$(flask-getenforce 2>&1)
[ "$enforce" = Enforcing ] || fail "FLASK is not enforcing: '$enforce' (is Xen booted with xsm=flask?)"
step "FLASK: $enforce"

home() { echo "/local/domain/$(xl domid "$1")"; }
status_is() { [ "$(xenstore-read "$(home "$1")/data/domd/status" 2>/dev/null)" = "$2" ]; }
reply_of() { xenstore-read "$(home "$1")/data/domd/test-reply" 2>/dev/null; }
# probe DOMD TARGET-DOMID: runs the dmprobe hook in DOMD and prints its reply.
probe() {
    xenstore-rm "$(home "$1")/data/domd/test-reply" 2>/dev/null
    xenstore-write "$(home "$1")/data/domd/test" "dmprobe $2"
    has_reply() { [ -n "$(reply_of "$1")" ]; }
    wait_for 20 has_reply "$1" || fail "$1 did not answer dmprobe $2"
    reply_of "$1"
}
# every_step_denied REPLY: each "step=ERR" is EACCES or EPERM, and the probe's first steps and its
# foreign map are among them (create_ioreq_server failing skips the steps that need a server).
every_step_denied() {
    for s in nr_vcpus create_ioreq_server map_foreign; do
        echo " $1" | grep -q " $s=" || return 1
    done
    ! echo "$1" | tr ' ' '\n' | grep -Ev '^[a-z_]+=(EACCES|EPERM)$' | grep -q .
}
label_of() { xl list -Z "$1" 2>/dev/null | awk 'NR == 2 {print $NF}'; }

# The plain instances: domd.cfg without its seclabel line, under another name.
plain_cfg() { sed -e '/^seclabel/d' -e "s/^name = .*/name = \"$1\"/" domd.cfg > "/tmp/$1.cfg"; }
plain_cfg domd-target
plain_cfg domd-plain

step "xl create domd (seclabel domd_t, testhooks), domd-target and domd-plain (no seclabel)"
mark=$(console_mark domd)
xl create domd.cfg 'extra="loglevel=info testhooks=1"' 'on_crash="preserve"' || fail "xl create domd"
xl create /tmp/domd-target.cfg 'on_crash="preserve"' || fail "xl create domd-target"
xl create /tmp/domd-plain.cfg 'extra="loglevel=info testhooks=1"' 'on_crash="preserve"' ||
    fail "xl create domd-plain"
for d in domd domd-target domd-plain; do
    wait_for 30 status_is "$d" ready || fail "$d never wrote data/domd/status=ready"
done
step "labels: domd=$(label_of domd) domd-target=$(label_of domd-target) domd-plain=$(label_of domd-plain)"
label_of domd | grep -q ':domd_t$' || fail "domd is not labelled domd_t"
label_of domd-plain | grep -q ':domU_t$' || fail "domd-plain is not domU_t"
label_of domd-target | grep -q ':domU_t$' || fail "domd-target is not domU_t"
target=$(xl domid domd-target)

step "domd's own event channels and grants under the policy (self-test)"
xenstore-rm "$(home domd)/data/domd/test-reply" 2>/dev/null
xenstore-write "$(home domd)/data/domd/test" selftest
reply_is_ok() { [ "$(reply_of domd)" = ok ]; }
wait_for 20 reply_is_ok || fail "self-test under FLASK: $(reply_of domd)"
step "self-test: ok"

step "domd (domd_t) probes the ordinary guest domd-target (domain $target)"
reply=$(probe domd "$target")
step "domd -> domd-target: $reply"
[ "$reply" = ok ] || fail "domd was denied what its policy allows: $reply"
since_mark domd "$mark" | grep "dm probe of domain $target" | sed 's/^.*I dm probe/E2E:   dm probe/'

step "domd-plain (domU_t, same image) probes domd-target"
xl dmesg -c >/dev/null
reply=$(probe domd-plain "$target")
step "domd-plain -> domd-target: $reply"
every_step_denied "$reply" || fail "a plain domU was not denied every step: $reply"
xl dmesg | grep -a 'avc:  denied' | sed 's/^/E2E:   xen: /' | head -n 8
xl dmesg | grep -aq 'avc:  denied.*scontext=system_u:system_r:domU_t' ||
    fail "no AVC denial of domU_t in Xen's log"

step "domd probes dom0: nothing over dom0_t"
reply=$(probe domd 0)
step "domd -> dom0: $reply"
every_step_denied "$reply" || fail "domd was allowed something over dom0: $reply"

step "each probed rule is needed: the policy without it denies its step"
[ -f /payload/flask-variants/full.pol ] || fail "no policy variants in the payload"
for expect in /payload/flask-variants/*.expect; do
    n=${expect##*/}; n=${n%.expect}
    want=$(cut -f1 "$expect") rule=$(cut -f2 "$expect")
    flask-loadpolicy "/payload/flask-variants/$n.pol" >/dev/null || fail "flask-loadpolicy variant $n"
    reply=$(probe domd "$target")
    step "  without '$rule': $reply"
    echo " $reply" | grep -Eq " $want=(EACCES|EPERM)" || fail "removing '$rule' did not deny $want"
done
flask-loadpolicy /payload/flask-variants/full.pol >/dev/null || fail "flask-loadpolicy (full policy again)"
reply=$(probe domd "$target")
[ "$reply" = ok ] || fail "the full policy, loaded again, denies domd: $reply"
step "full policy again: ok"

check_no_crash domd "$mark"
for d in domd domd-plain domd-target; do
    xl destroy "$d" || fail "xl destroy $d"
done
for d in domd domd-plain domd-target; do
    wait_for 30 domain_gone "$d" || fail "$d still there after destroy"
done
step "all destroyed"
