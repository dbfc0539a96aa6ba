# Net failover on real KVM: a virtio-net standby (failover=on) with the MAC of
# L1's e1000e, which franca passes through as its primary (--vfio
# failover_pair=net0) once the guest's virtio_net accepted STANDBY. The
# guest's net_failover shows a master, the standby and the primary, all with
# one MAC; a bridge in L1 joins the standby's TAP and the e1000e's wire (wire0),
# so frames for the guest reach whichever path it last sent on. One TCP stream,
# 48 MiB each way paced over >= 40 s and checked byte by byte, keeps flowing
# across failover-unplug (traffic moves to the standby) and failover-plug (back
# to a new primary); franca's net0 counters show which path carried each part.
source "$FRANCA_REPO/tests/integration/lib.sh"
need_l1_vfio_nic
NET_WIRE=$FRANCA_L1_WIRE
TRANSPORT=pci
source "$FRANCA_REPO/tests/integration/virtio/net.sh"
NET_MAC=52:54:00:fa:00:01  # the e1000e's own (run-on-kvm.sh): the standby gets it too
NET_BYTES=$((48 << 20))
NET_EXTRA_MODULES=e1000e

# The host end: br0 over the standby's TAP and wire0, addressed.
ip tuntap add dev "$NET_TAP" mode tap vnet_hdr
NET_TAP_MADE=$NET_TAP
net_wait_wire
ip link add br0 type bridge stp_state 0 forward_delay 0
ip link set "$NET_TAP" master br0 && ip link set "$NET_WIRE" master br0 || fail "cannot bridge $NET_TAP and $NET_WIRE"
ip link set "$NET_TAP" up && ip link set "$NET_WIRE" up && ip link set br0 up
ip addr add "$NET_HOST_IP/24" dev br0
log "br0 over $NET_TAP (standby) and $NET_WIRE (the primary's wire) with $NET_HOST_IP/24"

# Before the transfer the guest waits for its primary (the e1000e slave), then
# reports every interface as name:driver:MAC:master.
net_make_initrd '
m=/sys/class/net/$IF
i=0; while [ $(ls -d $m/lower_* 2>/dev/null | wc -l) -lt 2 ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
i=0; while ! ip route get '"$NET_HOST_IP"' >/dev/null 2>&1 && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
ifaces=""
for n in /sys/class/net/*; do
  [ ${n##*/} = lo ] && continue
  d=-; [ -e $n/device/driver ] && d=$(basename $(readlink $n/device/driver))
  [ -z "$(ls -d $n/lower_* 2>/dev/null)" ] || d=net_failover
  mst=-; [ -e $n/master ] && mst=$(basename $(readlink $n/master))
  ifaces="$ifaces ${n##*/}:$d:$(cat $n/address):$mst"
done
echo FO_IFACES=$ifaces
echo FO_SLAVES=$(ls -d $m/lower_* 2>/dev/null | sed "s,.*/lower_,," | xargs)
'"$(net_guest_transfer -w 40)"'
for s in $(ls -d $m/lower_* 2>/dev/null | sed "s,.*/lower_,,"); do
  echo FO_END_$(basename $(readlink /sys/class/net/$s/device/driver) | tr a-z- A-Z_)_TX=$(cat /sys/class/net/$s/statistics/tx_bytes)
done'
net_listen H 5001 -n "$NET_BYTES" -w 40 -p
net_start "tap=$NET_TAP,mac=$NET_MAC,failover=on" --vfio "path=$FRANCA_L1_VFIO_DEV,failover_pair=net0"
net_wait NET_UP 300
status=$(net_ctl status)
grep -q '"state": "plugged"' <<<"$status" || fail "the failover pair is not plugged once the guest is up: $status"
grep -q '"driver_standby": "accepted"' <<<"$status" || fail "the standby's driver did not accept STANDBY: $status"
expect_eq "$(device_field vfio0 hotplugged <<<"$status")" true "vfio0 hot-plugged as the primary"

# standby_bytes: bytes franca's net0 moved both ways so far.
standby_bytes() {
  local c
  c=$(net_ctl counters net0)
  echo $(($(json_value rx0_bytes <<<"$c") + $(json_value tx0_bytes <<<"$c")))
}
# at_mib MIB: once the host has received MIB MiB (progress every 8 MiB); the transfer must still run.
at_mib() {
  local i
  for ((i = 0; i < 1200; i++)); do
    (($(grep -c 'progress received=' H.err) * 8 >= $1)) && break
    [[ ! -s H.out ]] || fail "the transfer ended before $1 MiB ($2)"
    kill -0 "$NET_VMM_PID" 2>/dev/null || { net_dump; fail "franca exited before $1 MiB ($2)"; }
    net_sleep 0.25
  done
  ((i < 1200)) || { net_dump; fail "the host never received $1 MiB ($2)"; }
  [[ ! -s H.out ]] || fail "the transfer ended before $1 MiB ($2)"
}
at_mib 8 "before failover-unplug"
p_primary=$(standby_bytes)
out=$(net_ctl failover-unplug net0)
grep -q '"state": "unplugged"' <<<"$out" || fail "failover-unplug: $out"
log "primary unplugged after 8 MiB; net0 had moved $p_primary bytes"
p_unplugged=$(standby_bytes)
at_mib 24 "on the standby"
p_standby=$(standby_bytes)
out=$(net_ctl failover-plug net0)
grep -q '"state": "plugged"' <<<"$out" || fail "failover-plug: $out"
log "primary plugged again after 24 MiB"
at_mib 32 "primary coming back"
p_back=$(standby_bytes)
at_mib 40 "on the primary again"
p_end=$(standby_bytes)
net_wait NET_DONE 300
status=$(net_ctl status)
net_finish
net_check_guest "QEMU's e1000e counts each frame under 64 bytes from the unpadded virtio wire as undersize"
net_check_transfer H G "$NET_BYTES"

# The guest saw master + standby + primary with one MAC.
net_expect NET_MAC "$NET_MAC" "the master's MAC"
read -r -a ifaces <<<"${NV[FO_IFACES]}"
log "guest interfaces (name:driver:MAC:master): ${ifaces[*]}"
((${#ifaces[@]} == 3)) || fail "expected 3 interfaces (master, standby, primary), got: ${ifaces[*]}"
master=${NV[NET_IF]} standby="" primary=""
for f in "${ifaces[@]}"; do
  IFS=: read -r name drv m1 m2 m3 m4 m5 m6 mst <<<"$f"
  expect_eq "$m1:$m2:$m3:$m4:$m5:$m6" "$NET_MAC" "$name's MAC"
  case $drv in
    virtio_net) standby=$name; expect_eq "$mst" "$master" "the standby's master" ;;
    e1000e) primary=$name; expect_eq "$mst" "$master" "the primary's master" ;;
  esac
done
[[ -n $standby && -n $primary ]] || fail "no standby or primary among ${ifaces[*]}"
# Which path carried what: the standby (franca's net0) only while the primary was out.
on_standby=$((p_standby - p_unplugged))
log "net0 bytes: ${p_primary} before the unplug, ${on_standby} while unplugged (16 MiB each way), $((p_end - p_back)) on the new primary (8 MiB each way)"
((on_standby > 12 << 20)) || fail "only $on_standby bytes on the standby while the primary was out (16 MiB each way)"
((p_primary * 10 < on_standby)) || fail "$p_primary bytes on the standby while the primary carried 8 MiB: it was not on the primary"
(((p_end - p_back) * 10 < on_standby)) || fail "$((p_end - p_back)) bytes on the standby after the primary came back"
((${NV[FO_END_E1000E_TX]:-0} > 4000000)) || fail "the new primary sent ${NV[FO_END_E1000E_TX]:-0} bytes, expected MiBs"
log "ok: the new primary sent ${NV[FO_END_E1000E_TX]} bytes"
plugs=$(grep -o '"plugs": [0-9]*' <<<"$status" | grep -o '[0-9]*$')
unplugs=$(grep -o '"unplugs": [0-9]*' <<<"$status" | grep -o '[0-9]*$')
expect_eq "$plugs/$unplugs" 2/1 "failover plugs/unplugs in franca ctl status"
grep -q "failover net0: the driver accepted STANDBY" franca.err || fail "franca did not log the STANDBY negotiation"
