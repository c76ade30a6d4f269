# Guest test (Linux guest of tools/lab/build-guest, sourced by its /init): several virtio disks
# from domd at once, told apart by their GET_ID serial (domd-<guest domid>-<devid>). Parameters:
#   guest_disks=N            how many disks to wait for
#   guest_ro_sha256=HEX      the sha256 every read-only disk must have
#   guest_rounds=N           IO rounds, then "GUEST: multi passed" (0: until dom0 destroys it)
# Each read-only disk: VIRTIO_BLK_F_RO seen by Linux, content verifies, a write is refused.
# Each writable disk: DISCARD offered and honoured (domd's RAM disk reads zeros where discarded),
# then rounds of O_DIRECT writes of fresh random data at moving offsets, each read back and
# compared, with a read of every read-only disk in each round: "GUEST: multi round N" every 10.
want=${guest_disks:-2}
rounds=${guest_rounds:-0}
say() { echo "GUEST: multi $*"; }
die() { echo "GUEST: FAIL: $*"; exit 1; }
same() { [ "$(sha256sum < "$1")" = "$(sha256sum < "$2")" ]; }  # busybox has no cmp here

i=0
until [ "$(ls /sys/block | grep -c '^vd')" -ge "$want" ]; do
    i=$((i + 1)); [ "$i" -le 300 ] || die "only $(ls /sys/block | grep -c '^vd') of $want virtio disks in 30 s"
    sleep 0.1
done
rw= ro=
for d in $(ls /sys/block | grep '^vd'); do
    serial=$(cat "/sys/block/$d/serial" 2>/dev/null) || die "no serial for $d"
    size=$(blockdev --getsize64 "/dev/$d")
    flag=$(cat "/sys/block/$d/ro")
    say "disk $d serial $serial size $size ro $flag discard_max_bytes $(cat "/sys/block/$d/queue/discard_max_bytes")"
    case $serial in domd-*) ;; *) die "$d: serial '$serial' is not domd's" ;; esac
    if [ "$flag" = 1 ]; then ro="$ro $d"; else rw="$rw $d"; fi
done

for d in $ro; do
    sum=$(sha256sum "/dev/$d" | cut -d' ' -f1)
    [ -z "${guest_ro_sha256:-}" ] || [ "$sum" = "$guest_ro_sha256" ] || die "$d reads $sum, expected $guest_ro_sha256"
    if dd if=/dev/zero of="/dev/$d" bs=4096 count=1 oflag=direct conv=notrunc 2>/dev/null; then
        die "a write to read-only $d succeeded"
    fi
    say "$d read-only: content verifies, a write is refused"
done

dd if=/dev/urandom of=/tmp/block bs=65536 count=16 2>/dev/null
dd if=/dev/zero of=/tmp/zero bs=65536 count=16 2>/dev/null
for d in $rw; do
    [ "$(cat "/sys/block/$d/queue/discard_max_bytes")" -gt 0 ] || die "$d: no DISCARD offered"
    dd if=/tmp/block of="/dev/$d" bs=65536 count=16 seek=16 oflag=direct conv=notrunc 2>/dev/null || die "$d: write"
    blkdiscard -o 1048576 -l 1048576 "/dev/$d" || die "$d: blkdiscard failed"
    dd if="/dev/$d" of=/tmp/back bs=65536 count=16 skip=16 iflag=direct 2>/dev/null || die "$d: read"
    same /tmp/back /tmp/zero || die "$d: the discarded MiB does not read back as zeros"
    say "$d: DISCARD of 1 MiB honoured"
done

round=0
while [ "$rounds" = 0 ] || [ "$round" -lt "$rounds" ]; do
    for d in $rw; do
        dd if=/dev/urandom of=/tmp/block bs=65536 count=4 2>/dev/null
        at=$((round % 32 * 4))  # 64 KiB blocks: up to 8 MiB, the smallest disk here
        dd if=/tmp/block of="/dev/$d" bs=65536 count=4 seek=$at oflag=direct conv=notrunc 2>/dev/null ||
            die "$d: write failed in round $round"
        dd if="/dev/$d" of=/tmp/back bs=65536 count=4 skip=$at iflag=direct 2>/dev/null ||
            die "$d: read failed in round $round"
        same /tmp/block /tmp/back || die "$d: round $round read back other data than it wrote"
    done
    for d in $ro; do
        dd if="/dev/$d" of=/dev/null bs=65536 count=4 skip=$((round % 32 * 4)) iflag=direct 2>/dev/null ||
            die "$d: read failed in round $round"
    done
    round=$((round + 1))
    [ "$round" = 1 ] && say "io running on$rw (writes) and$ro (reads)"
    [ $((round % 10)) = 0 ] && say "round $round"
done
say "passed rounds=$round"
