# Switching the data path of live queues: while 64 MiB flow each way at once
# (paced over >= 12 s, so fast hosts switch mid-transfer too), the host moves
# net0 in-process -> vhost -> in-process -> vhost; every byte arrives intact,
# status ends on vhost and the backend_switches counter saw the switches. Split
# rings (features=-ring_packed): vhost-net has no packed rings.
# See tests/integration/virtio/net.sh.
source "$FRANCA_REPO/tests/integration/lib.sh"
TRANSPORT=pci
source "$FRANCA_REPO/tests/integration/virtio/net.sh"
net_setup_tap
net_make_initrd "$(net_guest_transfer -w 12)"
net_listen H 5001 -n "$NET_BYTES" -w 12 -p
net_start "tap=$NET_TAP,mac=$NET_MAC,backend=inprocess,features=-ring_packed"
# switch_at MIB BACKEND: once the host has received MIB MiB (its progress lines
# come every 8 MiB), switches net0 to BACKEND; the transfer must still be running.
switch_at() {
  local i
  for ((i = 0; i < 800; i++)); do
    (($(grep -c 'progress received=' H.err) * 8 >= $1)) && break
    [[ ! -s H.out ]] || fail "the transfer ended before the switch to $2"
    kill -0 "$NET_VMM_PID" 2>/dev/null || { net_dump; fail "franca exited before the switch to $2"; }
    net_sleep 0.5
  done
  ((i < 800)) || { net_dump; fail "the host never received $1 MiB"; }
  [[ ! -s H.out ]] || fail "the transfer ended before the switch to $2"
  net_ctl net-backend net0 "$2" >/dev/null
  log "switched net0 to $2 after $1 MiB guest->host"
}
switch_at 8 vhost
switch_at 24 inprocess
switch_at 40 vhost
net_wait NET_DONE 300
expect_eq "$(json_value backend <<<"$(net_ctl status)")" vhost "backend in franca ctl status"
counters=$(net_ctl counters net0)
switches=$(json_value backend_switches <<<"$counters")
((${switches:-0} >= 3)) || fail "backend_switches is '$switches', expected >= 3: $counters"
log "ok: backend_switches = $switches"
net_counters_positive "$counters" rx0_packets tx0_packets
net_finish
net_check_guest
net_check_transfer H G "$NET_BYTES"
