# virtio-net link state on a running guest: `franca ctl net-link net0 down` makes
# the guest see carrier 0 (operstate down), `up` brings the carrier back and the
# guest pings the host again. See tests/integration/virtio/net.sh.
source "$FRANCA_REPO/tests/integration/lib.sh"
TRANSPORT=pci
source "$FRANCA_REPO/tests/integration/virtio/net.sh"
net_setup_tap
net_make_initrd '
carrier() { cat /sys/class/net/eth0/carrier 2>/dev/null || echo none; }
operstate() { cat /sys/class/net/eth0/operstate 2>/dev/null || echo none; }
# await_carrier VALUE OPERSTATE NAME: reports carrier and operstate once both are
# reached (60 s at most). operstate follows carrier asynchronously (linkwatch
# batches events for up to a second), so a carrier flip alone is not enough.
await_carrier() {
  i=0; while { [ "$(carrier)" != "$1" ] || [ "$(operstate)" != "$2" ]; } && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
  echo CARRIER_$3=$(carrier)
  echo OPERSTATE_$3=$(operstate)
}
echo CARRIER_START=$(carrier)
echo LINK_WATCH
await_carrier 0 down DOWN
await_carrier 1 up UP
if ping -c 2 -w 30 10.0.2.1 >/tmp/ping 2>&1; then echo PING_AFTER_UP=ok; else echo PING_AFTER_UP=failed; cat /tmp/ping; fi'
net_start "tap=$NET_TAP,mac=$NET_MAC"
net_wait LINK_WATCH 300
net_ctl net-link net0 down >/dev/null
net_wait CARRIER_DOWN= 90
net_ctl net-link net0 up >/dev/null
net_wait NET_DONE 120
net_finish
net_check_guest
net_expect CARRIER_START 1 "carrier at boot"
net_expect CARRIER_DOWN 0 "carrier after net-link down"
net_expect OPERSTATE_DOWN down "operstate after net-link down"
net_expect CARRIER_UP 1 "carrier after net-link up"
net_expect OPERSTATE_UP up "operstate after net-link up"
net_expect PING_AFTER_UP ok "ping after net-link up"
