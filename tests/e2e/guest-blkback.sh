# e2e-payload: guest disk
# The lab's Linux guest (Debian's cloud kernel, tools/lab/build-guest) with a PV disk served by
# Linux blkback from dom0 on a loop device over a copy of the test disk image: the guest's disk
# test passes on a fresh disk (size, whole-disk checksum, O_DIRECT write-then-read, flush,
# mke2fs/mount/write/remount/verify); after `xl reboot` of the guest its file is still there
# and the test passes again. The comparison backend for domd's virtio disk, and the proof of
# the guest's disk plumbing and of this flow, which virtio-disk.sh repeats with domd.
. ./lib.sh
[ -n "${DISK_IMAGE:-}" ] || fail "no disk image in the payload (e2e.env)"
cp "$DISK_IMAGE" /tmp/blkback.img || fail "cannot copy the disk image to /tmp"
step "disk: $DISK_IMAGE ($DISK_SIZE bytes, sha256 $DISK_SHA256), served by blkback from /tmp/blkback.img"
step "guest pieces: kernel $(stat -c %s /payload/guest/Image) bytes, initramfs $(stat -c %s /payload/guest/initrd.cpio.gz) bytes"

mark=$(console_mark guest)
t0=$(now)
guest_create guest "$(blkback_disk /tmp/blkback.img)" disk dev=/dev/xvda size="$DISK_SIZE" \
    sha256="$DISK_SHA256" then=idle || fail "xl create guest"
t_create=$(since "$t0")
guest_wait guest "$mark" 60 "GUEST: init"
t_init=$(since "$t0")
guest_wait guest "$mark" 60 "GUEST: disk ready"
t_ready=$(since "$t0")
step "xl create returned after ${t_create} s; guest /init at ${t_init} s; /dev/xvda usable at ${t_ready} s"
step "guest: $(guest_line guest "$mark" 'GUEST: init')"
guest_wait guest "$mark" 240 "GUEST: disk-test passed|GUEST: test-exit"
guest_show guest "$mark"
guest_line guest "$mark" "disk-test passed phase=fresh" >/dev/null || fail "the fresh-disk test did not pass"
step "fresh-disk test passed in $(since "$t0") s from xl create"

step "xl reboot guest: the disk works again and the file written before is still there"
first=$(xl domid guest)
mark=$(console_mark guest)
t0=$(now)
xl reboot guest || fail "xl reboot guest"
guest_wait guest "$mark" 90 "GUEST: disk ready"
step "rebooted guest (domain $first -> $(xl domid guest)) has /dev/xvda after $(since "$t0") s"
guest_wait guest "$mark" 240 "GUEST: disk-test passed|GUEST: test-exit"
guest_show guest "$mark"
guest_line guest "$mark" "disk-test passed phase=again" >/dev/null || fail "the test after the reboot did not pass"

xl destroy guest || fail "xl destroy guest"
wait_for 30 domain_gone guest || fail "guest still in xl list 30 s after xl destroy"
losetup -a | grep -q blkback.img && fail "block-loop left the loop device attached"
step "guest destroyed, loop device released"
