# virtio-net over virtio-mmio, inprocess back-end: the guest pings the host and moves
# 64 MiB each way at once over one TCP connection, every byte checked at both
# ends; franca's ctl status reports the back-end. See tests/integration/virtio/net.sh.
source "$FRANCA_REPO/tests/integration/lib.sh"
TRANSPORT=mmio
source "$FRANCA_REPO/tests/integration/virtio/net.sh"
net_transfer_case inprocess
