# Guest side of tools/bench (dom0's side: tests/e2e/bench.sh). The guest has no network and no
# xenstore tools, so dom0 drives it through its console: dom0 writes one command per line into
# the console's pty (xenconsoled passes it to hvc0), the guest runs it and answers with GUEST
# lines on hvc0, which xenconsoled logs for dom0 to read. Commands ("ID" is dom0's sequence
# number, echoed in the answer so that a late line is never taken for the next one's):
#   ID prep DEV...           write every block of each disk once (O_DIRECT), so no backend
#                            meets a never-written block while measured; IO scheduler "none"
#   ID fio TAG FIO-ARGS...   fio with those arguments, terse output (version 3): one line
#                            "GUEST: bench-fio ID TAG <terse>"
#   ID getid TAG DEV COUNT   getid-lat on /sys/block/DEV/serial: "GUEST: bench-getid ID TAG <json>"
#   ID info                  the block devices and their queues ("GUEST: bench-info ...")
#   ID quit                  back to /init
# Every command ends with "GUEST: bench-done ID rc=N".
# guest_devs: the disks to wait for, comma-separated (a kernel parameter holds no spaces).
for d in $(echo "${guest_devs:-}" | tr , ' '); do
    i=0
    until [ -b "$d" ]; do
        i=$((i + 1)); [ "$i" -le 300 ] || { echo "GUEST: FAIL: $d did not appear"; exit 1; }
        sleep 0.1
    done
done
# Commands arrive on hvc0 in canonical mode; no echo (an echoed command line would only be noise).
stty -F /dev/hvc0 -echo 2>/dev/null || echo "GUEST: bench: stty -echo failed (commands will be echoed)"
exec 3< /dev/hvc0
echo "GUEST: bench ready fio=$(fio --version 2>&1) cpus=$(grep -c ^processor /proc/cpuinfo)"
while read -r id cmd rest <&3; do
    id=$(echo "$id" | tr -d '\r')
    [ -n "$id" ] || continue
    rest=$(echo "$rest" | tr -d '\r')
    rc=0
    case $cmd in
        prep)
            for d in $rest; do
                # No IO scheduler on either disk: the backends are compared, not the schedulers.
                echo none > "/sys/block/${d##*/}/queue/scheduler" 2>/dev/null || true
                dd if=/dev/zero of="$d" bs=1M oflag=direct 2>/dev/null
                # dd stops with "no space left" at the end of the disk: judge by the size written.
                echo "GUEST: bench-prep $id $d $(blockdev --getsize64 "$d") bytes"
            done ;;
        fio)
            tag=${rest%% *}
            # shellcheck disable=SC2086
            out=$(fio --output-format=terse --terse-version=3 ${rest#* } 2>/tmp/fio.err) || rc=$?
            echo "GUEST: bench-fio $id $tag $(echo "$out" | grep '^3;' | head -n 1)"
            [ "$rc" = 0 ] || sed "s/^/GUEST: bench-fio-error $id /" /tmp/fio.err | head -n 5 ;;
        getid)
            # shellcheck disable=SC2086
            set -- $rest
            out=$(getid-lat "/sys/block/$2/serial" "$3" 2>&1) || rc=$?
            echo "GUEST: bench-getid $id $1 $out" ;;
        info)
            for b in /sys/block/vd* /sys/block/xvd*; do
                [ -d "$b" ] || continue
                n=${b##*/}
                echo "GUEST: bench-info $id $n size=$(cat "$b/size") hw_queues=$(ls "$b/mq" | wc -l) io_poll=$(cat "$b/queue/io_poll" 2>/dev/null) serial=$(cat "$b/serial" 2>/dev/null) scheduler=$(cat "$b/queue/scheduler" | tr ' ' ,)"
            done
            [ ! -f /sys/module/virtio_blk/parameters/poll_queues ] ||
                echo "GUEST: bench-info $id virtio_blk.poll_queues=$(cat /sys/module/virtio_blk/parameters/poll_queues)"
            dmesg | grep -E 'virtio_blk.*queues' | tail -n 2 | sed "s/^/GUEST: bench-info $id dmesg: /" ;;
        quit)
            echo "GUEST: bench-done $id rc=0"
            break ;;
        *)
            rc=127
            echo "GUEST: bench: unknown command '$cmd'" ;;
    esac
    echo "GUEST: bench-done $id rc=$rc"
done
exec 3<&-
