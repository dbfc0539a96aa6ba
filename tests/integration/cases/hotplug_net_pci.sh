# PCI hotplug of a NIC through ACPI, in-process and vhost: a guest booted with no
# NIC gets one from device-add (eth0 appears, no rescan), moves 32 MiB each way
# with the host, every byte checked; then, with a transfer running, device-del
# removes it (eth0 gone, the transfer cut) and franca's counters balance against
# the host TAP's (every frame franca read from the TAP was delivered to the guest
# or counted dropped; every frame it took from the guest reached the TAP). The
# sequence runs in-process -> vhost -> in-process on the same TAP, so a NIC also
# works again once added back after a removal under traffic. Then the guest
# writes junk to the hotplug registers and franca ignores and counts it.
source "$FRANCA_REPO/tests/integration/lib.sh"
TRANSPORT=pci
source "$FRANCA_REPO/tests/integration/virtio/net.sh"
BYTES=$((32 << 20))
net_setup_tap

make_initramfs initrd.gz '
exec 0<>/dev/hvc0 1>&0 2>&0
stty -echo
ip link set lo up
nic() { for n in /sys/class/net/eth*; do [ -e "$n" ] && { echo "${n##*/}"; return; }; done; }
wait_nic() {
  i=0; while [ $i -lt 600 ]; do
    dev=$(nic); [ -n "$dev" ] && break; sleep 0.05; i=$((i+1)); done
  [ -n "$dev" ] || { echo "NIC_UP_$1=never"; return; }
  ip addr add 10.0.2.15/24 dev $dev && ip link set $dev up
  if ping -c 1 -w 30 10.0.2.1 >/dev/null 2>&1; then echo "NIC_UP_$1=$dev:$i"; else echo "NIC_UP_$1=noping"; fi
}
wait_gone() { i=0; while [ $i -lt 600 ]; do [ -z "$(nic)" ] && { echo "NIC_GONE_$1=$i"; return; }; sleep 0.05; i=$((i+1)); done; echo "NIC_GONE_$1=never"; }
echo HOTPLUG-READY
while read -r line; do eval "$line"; done' "virtio_pci virtio_console failover net_failover virtio_net" \
  "$FRANCA_NETTOOL:/bin/nettool"

NET_API=$FRANCA_WORK/api.sock  # hvc_start's
hvc_start --cmdline "console=ttyS0 panic=-1" --console stdio
NET_VMM_PID=$HVC_PID
NET_PIDS+=("$NET_VMM_PID")
# tap_stat rx_packets|rx_dropped|tx_packets: the TAP's, from /proc/net/dev (this
# network namespace's; /sys/class/net shows the namespace sysfs was mounted in).
tap_stat() {
  awk -v dev="$NET_TAP" -v what="$1" '{ sub(/:/, " ") } $1 == dev {
    print (what == "rx_packets" ? $3 : what == "rx_dropped" ? $5 : what == "tx_packets" ? $11 : -1) }' /proc/net/dev
}
counter() { json_value "$1" <<<"$2"; }

# add_nic TAG BACKEND: device-add, the guest's eth0 up and pinging.
add_nic() {
  local out
  out=$(net_ctl device-add net "tap=$NET_TAP,mac=$NET_MAC,backend=$2")
  expect_eq "$(json_value id <<<"$out")" net0 "id of the hot-added NIC ($2)"
  SLOT=$(json_value pci <<<"$out")
  SLOT=$((16#${SLOT:8:2}))
  guest "wait_nic $1"
  wait_for "NIC_UP_$1=" 60
  [[ $(value "NIC_UP_$1") == eth* ]] || died "$2 NIC: the guest's eth0 did not come up: $(value "NIC_UP_$1")"
  log "ok: $2 NIC up in the guest: $(value "NIC_UP_$1") (device:polls of 50 ms)"
  expect_eq "$(json_value backend <<<"$(net_ctl status)")" "$2" "backend of the hot-added NIC"
}

# transfer TAG PORT: BYTES each way, every byte checked at both ends.
transfer() {
  net_listen "H$1" "$2" -n "$BYTES"
  guest "nettool connect -n $BYTES -l G$1 -t 300 -r 30 10.0.2.1 $2; echo G$1_RC=\$?"
  wait_for "G$1_RC=" 320
  wait "${NET_LISTENER[H$1]}" || true
  net_values console.log "H$1.out"
  net_expect "G$1_RC" 0 "guest end of transfer $1"
  net_expect "H$1_RECEIVED" "$BYTES" "H$1: bytes the host received"
  net_expect "H$1_RECEIVED_BAD" -1 "H$1: first wrong byte guest->host (-1: none)"
  net_expect "G$1_RECEIVED" "$BYTES" "G$1: bytes the guest received"
  net_expect "G$1_RECEIVED_BAD" -1 "G$1: first wrong byte host->guest (-1: none)"
  net_expect "H$1_RECEIVED_SEED" "${NV[G$1_SENT_SEED]}" "H$1: seed of the guest's stream"
  net_expect "G$1_RECEIVED_SEED" "${NV[H$1_SENT_SEED]}" "G$1: seed of the host's stream"
}

# remove_under_traffic TAG PORT BACKEND: a transfer both ways is running (the host
# has received >= 8 MiB) when device-del removes the NIC.
remove_under_traffic() {
  local i del tx rx tap_tx0 tap_rx0 tap_tx1 tap_rx1
  net_listen "R$1" "$2" -n $((1 << 30)) -p
  guest "nettool connect -n $((1 << 30)) -l RG$1 -t 120 -r 30 10.0.2.1 $2 >/dev/null 2>&1 &"
  for ((i = 0; i < 600; i++)); do
    grep -q 'progress received=' "R$1.err" && break
    kill -0 "$NET_VMM_PID" 2>/dev/null || died "franca exited during the transfer before device-del"
    net_sleep 0.2
  done
  ((i < 600)) || died "the transfer before device-del never reached 8 MiB"
  del=$(net_ctl device-del net0)
  grep -q '"removed": *true' <<<"$del" || died "device-del did not report the removal: $del"
  guest "wait_gone $1"
  wait_for "NIC_GONE_$1=" 30
  [[ $(value "NIC_GONE_$1") != never ]] || died "eth0 is still in the guest after device-del"
  kill "${NET_LISTENER[R$1]}" 2>/dev/null || true
  [[ ! -s R$1.out ]] || died "the transfer finished although its NIC was removed: $(cat "R$1.out")"
  log "ok: $3 NIC removed under traffic after $(grep -c 'progress received=' "R$1.err")x8 MiB"
  if [[ $3 == inprocess ]]; then
    # TAP tx = frames franca read (tun counts them as they are read), TAP rx = frames it wrote.
    tx=$(counter tx0_packets "$del") rx=$(counter rx0_packets "$del")
    local dropped
    dropped=$(counter rx_dropped "$del")
    expect_eq "$((rx + dropped))" "$(($(tap_stat tx_packets) - TAP_TX0))" \
      "$3: frames franca read from the TAP = delivered to the guest ($rx) + dropped ($dropped)"
    dropped=$(counter tx_dropped "$del")
    expect_eq "$((tx + dropped))" "$(($(tap_stat rx_packets) + $(tap_stat rx_dropped) - TAP_RX0))" \
      "$3: frames franca took from the guest: sent ($tx) + dropped ($dropped) = frames the TAP took"
  fi
  TAP_TX0=$(tap_stat tx_packets) TAP_RX0=$(($(tap_stat rx_packets) + $(tap_stat rx_dropped)))
}

wait_for HOTPLUG-READY 240
for _ in $(seq 50); do
  "$FRANCA_BIN" ctl "$NET_API" status | grep -q '"guest_ready": *true' && break
  net_sleep 0.2
done
TAP_TX0=$(tap_stat tx_packets) TAP_RX0=$(($(tap_stat rx_packets) + $(tap_stat rx_dropped)))
add_nic a inprocess
transfer 1 5001
remove_under_traffic a 5101 inprocess
add_nic b vhost
transfer 2 5002
remove_under_traffic b 5102 vhost
add_nic c inprocess
transfer 3 5003

# A hostile driver: junk at the hotplug registers (byte accesses, which /dev/port
# makes, at every offset and past the end); franca ignores and counts it.
before=$(net_ctl status)
guest 'for off in 0 1 2 3 4 6 8 9 11 12; do printf "\377\377" | dd of=/dev/port bs=1 seek=$((0xae00 + off)) count=2 2>/dev/null; done; echo JUNK=done'
wait_for JUNK= 30
after=$(net_ctl status)
(($(json_value bad_accesses <<<"$after") > $(json_value bad_accesses <<<"$before"))) ||
  died "the junk register writes were not counted: $after"
log "ok: register junk counted: bad_accesses $(json_value bad_accesses <<<"$before") -> $(json_value bad_accesses <<<"$after")"
# An eject nobody asked for: the guest powers its NIC's slot off itself
# (acpiphp runs _EJ0); franca keeps the device, counts the write, and the NIC
# works again once the guest powers the slot back on (a rescan finds it).
guest "echo 0 > /sys/bus/pci/slots/$SLOT/power; echo POWER_OFF=\$?"
wait_for POWER_OFF= 30
guest "wait_gone j"
wait_for NIC_GONE_j= 30
after=$(net_ctl status)
expect_eq "$(json_value ejects <<<"$after")" 2 "ejects honoured (the two franca asked for)"
(($(json_value ignored_ejects <<<"$after") >= 1)) || died "the guest's own eject was not counted: $after"
grep -q '"id": *"net0"' <<<"$after" || died "franca dropped net0 on an eject it had not asked for: $after"
log "ok: the guest's own eject of slot $SLOT ignored and counted (ignored_ejects $(json_value ignored_ejects <<<"$after"))"
guest "echo 1 > /sys/bus/pci/slots/$SLOT/power; echo POWER_ON=\$?"
wait_for POWER_ON= 30
guest "wait_nic d"
wait_for NIC_UP_d= 60
[[ $(value NIC_UP_d) == eth* ]] || died "the NIC did not come back after the guest powered its slot on: $(value NIC_UP_d)"
transfer 4 5004
net_ctl shutdown >/dev/null
wait "$NET_VMM_PID" || true
no_acpi_errors serial.log
log "PASS"
