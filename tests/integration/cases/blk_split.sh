# virtio-blk over virtio-mmio with split rings (features=-ring_packed): see tests/integration/virtio/blk.sh.
source "$FRANCA_REPO/tests/integration/lib.sh"
RING=split TRANSPORT=mmio
source "$FRANCA_REPO/tests/integration/virtio/blk.sh"
