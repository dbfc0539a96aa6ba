# virtio-blk over virtio-mmio with packed rings (the default): see tests/integration/virtio/blk.sh.
source "$FRANCA_REPO/tests/integration/lib.sh"
RING=packed TRANSPORT=mmio
source "$FRANCA_REPO/tests/integration/virtio/blk.sh"
