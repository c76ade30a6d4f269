# Helpers for e2e scenarios; sourced by each scenario's `run`, which dom0 executes with sh
# (busybox) in /payload. Scenarios print "E2E: ..." progress lines and exit non-zero on failure.

console_log() { echo "/var/log/xen/console/guest-$1.log"; }

fail() {
    echo "E2E: FAIL: $*"
    xl list 2>&1 | sed 's/^/E2E:   xl list: /'
    exit 1
}

step() { echo "E2E: $*"; }

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
log_count() { grep -c -- "$2" "$(console_log "$1")" 2>/dev/null || echo 0; }

# xl list's state column for one domain (r, b, p, s, c, d flags), "" if absent.
domain_state() { xl list "$1" 2>/dev/null | awk 'NR == 2 {print $5}'; }
# CPU seconds consumed so far (xl list's Time(s) column).
domain_cpu_seconds() { xl list "$1" 2>/dev/null | awk 'NR == 2 {print $6}'; }
# cpu_used_over DOMAIN SECONDS: CPU seconds the domain consumed while we slept that long.
cpu_used_over() {
    before=$(domain_cpu_seconds "$1")
    sleep "$2"
    after=$(domain_cpu_seconds "$1")
    awk -v a="$after" -v b="$before" 'BEGIN { printf "%.1f", a - b }'
}
