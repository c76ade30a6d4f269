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
console_mark() { c=$(wc -l < "$(console_log "$1")" 2>/dev/null) || true; echo "${c:-0}"; }
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
