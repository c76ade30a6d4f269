# dom0's part of tools/run: start domd, then a Linux guest whose disk domd serves; show the
# guest using it and both consoles; stop both.
wait_line() {  # wait_line FILE REGEX SECONDS
    i=0
    while [ $i -lt $(( $3 * 10 )) ] && ! grep -Eq "$2" "$1" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
}
# follow_guest FILE REGEX SECONDS: the guest's "GUEST:" lines shown as they come (the lab stops a
# run whose console stays silent for a minute), until one matches REGEX.
follow_guest() {
    shown=0 start=$(date +%s)
    end=$((start + $3)) beat=$((start + 15))
    while [ "$(date +%s)" -lt "$end" ]; do
        if [ "$(date +%s)" -ge "$beat" ]; then
            echo "guest| ... $(( $(date +%s) - start )) s"
            beat=$(( $(date +%s) + 15 ))
        fi
        lines=$(grep -a "GUEST:" "$1" 2>/dev/null | tr -d '\r')
        count=$(printf '%s\n' "$lines" | grep -c .)
        [ "$count" -gt "$shown" ] && printf '%s\n' "$lines" | tail -n $((count - shown)) | sed 's/^/guest| /'
        shown=$count
        printf '%s\n' "$lines" | grep -Eq "$2" && return 0
        sleep 1
    done
    return 1
}
echo "dom0# xl create domd.cfg"
xl create domd.cfg
dlog=/var/log/xen/console/guest-domd.log
wait_line "$dlog" "I ready" 30
echo "dom0# xl create guest.cfg   ($(grep '^disk' /payload/guest/guest.cfg))"
xl create /payload/guest/guest.cfg \
    "extra=\"console=hvc0 deferred_probe_timeout=0 guest_test=disk guest_then=idle guest_dev=/dev/vda $(cat /payload/disk.expect)\""
glog=/var/log/xen/console/guest-guest.log
follow_guest "$glog" "GUEST: (disk-test passed|FAIL|test-exit)" 400 || echo "(no result from the guest within 400 s)"
echo "dom0# xl list"
xl list
echo "dom0# xenstore-write /local/domain/$(xl domid domd)/data/domd/stats-request 1   (domd's counters)"
xenstore-write "/local/domain/$(xl domid domd)/data/domd/stats-request" 1
wait_line "$dlog" "I stats domd" 20
be=$(xenstore-list "/local/domain/$(xl domid domd)/backend/virtio_disk/$(xl domid guest)" 2>/dev/null | head -n 1)
[ -z "$be" ] || xenstore-read "/local/domain/$(xl domid domd)/backend/virtio_disk/$(xl domid guest)/$be/stats" | fold -w 100
echo "dom0# xl destroy guest; xl shutdown -w domd"
xl destroy guest
sleep 2
xl shutdown -w domd
echo "dom0# cat $dlog   (what 'xl console domd' shows)"
cat "$dlog"
xl list
