# Net failover, a guest without it: the standby's STANDBY is masked
# (features=-standby, as a driver that does not know the bit), so franca never
# plugs the primary: the guest has one plain virtio NIC (no net_failover
# master, no e1000e), it works (ping, 8 MiB each way), and franca's status
# shows the pair hidden with the driver's refusal; failover-plug is refused.
source "$FRANCA_REPO/tests/integration/lib.sh"
need_l1_vfio_nic
TRANSPORT=pci
source "$FRANCA_REPO/tests/integration/virtio/net.sh"
NET_MAC=52:54:00:fa:00:01
NET_BYTES=$((8 << 20))
NET_EXTRA_MODULES=e1000e
net_setup_tap
net_make_initrd 'sleep 3  # time in which a wrongly plugged primary would show up
echo FO_IFACES=$(ls /sys/class/net | grep -v "^lo$" | xargs)
echo FO_E1000E=$(ls -d /sys/bus/pci/drivers/e1000e/0000:* 2>/dev/null | wc -l)
'"$(net_guest_transfer)"
net_listen H 5001 -n "$NET_BYTES"
net_start "tap=$NET_TAP,mac=$NET_MAC,failover=on,features=-standby" --vfio "path=$FRANCA_L1_VFIO_DEV,failover_pair=net0"
net_wait NET_DONE 300
status=$(net_ctl status)
grep -q '"state": "hidden"' <<<"$status" || fail "the pair is not hidden: $status"
grep -q '"driver_standby": "refused"' <<<"$status" || fail "the driver's refusal is not in status: $status"
[[ -z $(device_field vfio0 id <<<"$status") ]] || fail "vfio0 is a device of the guest: $status"
out=$("$FRANCA_BIN" ctl "$NET_API" failover-plug net0 2>&1) && fail "failover-plug was accepted: $out"
log "ok: failover-plug refused: $out"
grep -q 'STANDBY' <<<"$out" || fail "failover-plug's refusal does not say why: $out"
net_finish
net_check_guest
net_check_transfer H G "$NET_BYTES"
net_expect FO_IFACES eth0 "the guest's interfaces"
net_expect FO_E1000E 0 "e1000e functions in the guest"
grep -q "did not accept STANDBY" franca.err || fail "franca did not log the refusal"
