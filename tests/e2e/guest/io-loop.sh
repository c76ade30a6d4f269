# Guest test: endless O_DIRECT writes and reads on the disk, for dom0 to destroy the guest in
# the middle of IO. Says "GUEST: io-loop running" after the first round, then a line every
# 20 rounds. Parameter: guest_dev (default /dev/vda).
dev=${guest_dev:-/dev/vda}
i=0
until [ -b "$dev" ]; do
    i=$((i + 1)); [ "$i" -le 300 ] || { echo "GUEST: FAIL: $dev did not appear"; exit 1; }
    sleep 0.1
done
dd if=/dev/urandom of=/tmp/pattern bs=65536 count=16 2>/dev/null
round=0
while :; do
    dd if=/tmp/pattern of="$dev" bs=65536 count=16 seek=$((round % 32 * 16)) oflag=direct conv=notrunc 2>/dev/null ||
        { echo "GUEST: FAIL: io-loop write failed in round $round"; exit 1; }
    dd if="$dev" of=/dev/null bs=65536 count=16 skip=$((round % 32 * 16)) iflag=direct 2>/dev/null ||
        { echo "GUEST: FAIL: io-loop read failed in round $round"; exit 1; }
    round=$((round + 1))
    [ "$round" = 1 ] && echo "GUEST: io-loop running"
    [ $((round % 20)) = 0 ] && echo "GUEST: io-loop round $round"
done
