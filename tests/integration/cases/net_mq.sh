# Multiqueue: queues=2 on a multi_queue TAP with 2 vCPUs; four parallel TCP
# streams (4 MiB each way each), two pinned to each vCPU, all intact; the
# guest has two rx/tx pairs and franca's per-queue counters show packets on
# rx0, rx1, tx0 and tx1. See tests/integration/virtio/net.sh.
source "$FRANCA_REPO/tests/integration/lib.sh"
TRANSPORT=pci
source "$FRANCA_REPO/tests/integration/virtio/net.sh"
bytes=$((4 << 20))
net_setup_tap multi_queue
net_make_initrd "
for s in 1 2 3 4; do
  taskset \$((s % 2 + 1)) nettool connect -n $bytes -l G\$s -t 400 -r 30 $NET_HOST_IP 500\$s >/tmp/g\$s 2>&1 &
done
wait
cat /tmp/g1 /tmp/g2 /tmp/g3 /tmp/g4"
for s in 1 2 3 4; do net_listen "H$s" "500$s" -n "$bytes"; done
net_start "tap=$NET_TAP,mac=$NET_MAC,queues=2" --cpus 2
net_wait NET_DONE 480
if net_is_franca "franca ctl counters"; then
  net_counters_positive "$(net_ctl counters net0)" rx0_packets rx1_packets tx0_packets tx1_packets
fi
net_finish
net_check_guest
net_expect NET_QUEUES "rx-0 rx-1 tx-0 tx-1" "guest eth0 queues"
for s in 1 2 3 4; do net_check_transfer "H$s" "G$s" "$bytes"; done
