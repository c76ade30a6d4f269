# Guest test (Linux guest of tools/lab/build-guest, sourced by its /init): a disk works end to
# end. Parameters from the kernel command line:
#   guest_dev=/dev/vda       the disk (virtio-blk from domd: /dev/vda; blkfront: /dev/xvda)
#   guest_size=BYTES         its expected size
#   guest_sha256=HEX         the sha256 of its content as the test image was built
#   guest_again=TEST         in phase "again", run /tests/TEST.sh after passing (io-loop: IO
#                            until dom0 destroys the guest), so that one guest start covers both
# Phases, chosen by what the disk holds (a guest reboot re-runs this on the same disk):
#   fresh   content is the test image: size, whole-disk checksum and a sector read-back, then
#           the write tests below
#   again   the ext2 file system an earlier run left: its file still verifies (the data outlived
#           the reboot), then the write tests
#   used    anything else (e.g. after a guest was destroyed during IO): the write tests only
# First: the size, and that the driver negotiated a flush and multi-segment requests.
# Write tests: O_DIRECT write then read of a 4 KiB and a 1 MiB pattern; a flush (fsync of the
# block device: Linux sends a FLUSH); mke2fs, mount, write a file, sync, umount, mount again
# and verify. Prints "GUEST: disk ..." lines; the last is "GUEST: disk-test passed phase=P".
dev=${guest_dev:-/dev/vda}
up() { cut -d' ' -f1 /proc/uptime; }
say() { echo "GUEST: disk $*"; }
die() { echo "GUEST: FAIL: $*"; exit 1; }

i=0
until [ -b "$dev" ]; do
    i=$((i + 1)); [ "$i" -le 300 ] || die "$dev did not appear in 30 s"
    sleep 0.1
done
say "ready $dev uptime=$(up)"

size=$(blockdev --getsize64 "$dev") || die "blockdev --getsize64 $dev"
say "size $size bytes"
[ -z "${guest_size:-}" ] || [ "$size" = "$guest_size" ] || die "$dev has $size bytes, expected $guest_size"
# What the driver made of the device's offer. "write back" means it negotiated a flush
# (virtio-blk: VIRTIO_BLK_F_FLUSH; blkfront: feature-flush-cache): only then does the fsync
# below send a FLUSH; without it Linux completes the fsync without asking the device. More
# than one segment per request needs the device's SEG_MAX (virtio) or indirect descriptors.
q=/sys/block/${dev##*/}/queue
cache=$(cat "$q/write_cache") segs=$(cat "$q/max_segments")
say "queue: write_cache '$cache', max_segments $segs, max_hw_sectors_kb $(cat "$q/max_hw_sectors_kb")"
[ "$cache" = "write back" ] || die "$dev has no volatile write cache: the device offered no flush"
[ "$segs" -gt 1 ] || die "$dev takes one segment per request: the device offered no segment limit"

phase=used
if mount -t ext2 -o ro "$dev" /mnt 2>/dev/null; then
    if [ -f /mnt/domd-e2e/data ]; then
        phase=again
        got=$(sha256sum /mnt/domd-e2e/data | cut -d' ' -f1)
        [ "$got" = "$(cat /mnt/domd-e2e/data.sha256)" ] || die "file left by run $(cat /mnt/domd-e2e/runs) does not verify"
        say "file from run $(cat /mnt/domd-e2e/runs) verifies after the reboot"
        runs=$(cat /mnt/domd-e2e/runs)
    fi
    umount /mnt
fi
# The whole-disk checksum costs a read of the disk: only when sector 0 still looks like the image.
first=$(dd if="$dev" bs=512 count=1 2>/dev/null | head -n 1)
if [ "$phase" = used ] && [ "$first" != "domd-disk sector 0000000000 00." ]; then
    say "sector 0 is not the test image's: no whole-disk checksum"
elif [ "$phase" = used ]; then
    t0=$(up)
    sum=$(sha256sum "$dev" | cut -d' ' -f1)
    say "sha256 $sum ($(awk -v a="$t0" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }') s)"
    if [ -n "${guest_sha256:-}" ] && [ "$sum" = "$guest_sha256" ]; then
        phase=fresh
        # Sector 12345's first line, read by itself: names the sector it came from.
        line=$(dd if="$dev" bs=512 skip=12345 count=1 2>/dev/null | head -n 1)
        [ "$line" = "domd-disk sector 0000012345 00." ] || die "sector 12345 reads '$line'"
        say "sector 12345 reads back: $line"
    fi
fi
say "phase $phase"

# O_DIRECT write then read: 4 KiB (one segment) at 4 KiB block 100, 1 MiB (many segments,
# split by the driver's limits) at MiB 8; each read back through O_DIRECT and compared.
dd if=/dev/urandom of=/tmp/pattern bs=1048576 count=1 2>/dev/null || die "no pattern"
direct() {    # direct BS SEEK/SKIP (in BS units)
    dd if=/tmp/pattern of="$dev" bs="$1" count=1 seek="$2" oflag=direct conv=notrunc 2>/tmp/dd.err ||
        die "O_DIRECT write of $1 bytes: $(cat /tmp/dd.err)"
    dd if="$dev" of=/tmp/back bs="$1" count=1 skip="$2" iflag=direct 2>/tmp/dd.err ||
        die "O_DIRECT read of $1 bytes: $(cat /tmp/dd.err)"
    want=$(head -c "$1" /tmp/pattern | sha256sum | cut -d' ' -f1)
    [ "$(sha256sum < /tmp/back | cut -d' ' -f1)" = "$want" ] || die "O_DIRECT read-back of $1 bytes differs"
}
direct 4096 100
direct 1048576 8
say "O_DIRECT write-then-read verified (4 KiB and 1 MiB)"

# fsync on the block device ends in blkdev_issue_flush: a FLUSH request to the device.
dd if=/dev/zero of="$dev" bs=4096 count=0 conv=notrunc,fsync 2>/tmp/dd.err || die "flush: $(cat /tmp/dd.err)"
say "flush (fsync of $dev) ok"

mke2fs "$dev" > /tmp/mkfs.log 2>&1 || die "mke2fs: $(tail -n 3 /tmp/mkfs.log)"
mount -t ext2 "$dev" /mnt || die "mount after mke2fs"
mkdir -p /mnt/domd-e2e
cp /tmp/pattern /mnt/domd-e2e/data
sha256sum /mnt/domd-e2e/data | cut -d' ' -f1 > /mnt/domd-e2e/data.sha256
echo $(( ${runs:-0} + 1 )) > /mnt/domd-e2e/runs
sync
umount /mnt || die "umount"
mount -t ext2 "$dev" /mnt || die "mount again"
[ "$(sha256sum /mnt/domd-e2e/data | cut -d' ' -f1)" = "$(cat /mnt/domd-e2e/data.sha256)" ] ||
    die "file does not verify after umount and mount"
runs=$(cat /mnt/domd-e2e/runs)
umount /mnt || die "umount (again)"
say "mke2fs, mount, write, sync, umount, mount, verify: ok (run $runs)"
echo "GUEST: disk-test passed phase=$phase uptime=$(up)"
if [ "$phase" = again ] && [ -n "${guest_again:-}" ]; then
    . "./$guest_again.sh"
fi
