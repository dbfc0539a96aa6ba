# tap=NAME that does not exist: franca creates the TAP and says so on stderr;
# the host addresses it once it appears and the guest pings the host through
# it. See tests/integration/virtio/net.sh.
source "$FRANCA_REPO/tests/integration/lib.sh"
TRANSPORT=pci
source "$FRANCA_REPO/tests/integration/virtio/net.sh"
! ip link show dev "$NET_TAP" >/dev/null 2>&1 || fail "TAP $NET_TAP exists before the test"
net_make_initrd ''
net_start "tap=$NET_TAP,mac=$NET_MAC"
for ((i = 0; i < 120; i++)); do
  ip link show dev "$NET_TAP" >/dev/null 2>&1 && break
  kill -0 "$NET_VMM_PID" 2>/dev/null || { net_dump; fail "franca exited before creating $NET_TAP"; }
  net_sleep 0.5
done
((i < 120)) || { net_dump; fail "no TAP $NET_TAP appeared within 60 s"; }
log "TAP $NET_TAP appeared: $(ip -d link show dev "$NET_TAP" | grep -o 'tun type tap.*' || true)"
net_host_addr
net_wait NET_DONE 300
net_finish
net_check_guest
if net_is_franca "franca's stderr"; then
  grep -i "$NET_TAP" franca.err | grep -qi creat || fail "franca did not say on stderr that it created $NET_TAP"
  log "ok: franca said: $(grep -i "$NET_TAP" franca.err | grep -i creat | head -n 1)"
fi
if ip link show dev "$NET_TAP" >/dev/null 2>&1; then log "note: $NET_TAP still exists after franca exited"; fi
