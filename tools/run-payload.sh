# dom0's part of tools/run: start domd, show its console, stop it.
echo "dom0# xl create domd.cfg"
xl create domd.cfg
log=/var/log/xen/console/guest-domd.log
i=0
while [ $i -lt 100 ] && ! grep -q "ready" "$log" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
echo "dom0# xl list"
xl list
echo "dom0# cat $log   (what 'xl console domd' shows)"
cat "$log"
echo "dom0# xl shutdown -w domd"
xl shutdown -w domd
xl list
