# virtio-blk over virtio-pci (MSI-X) with split rings: see tests/integration/virtio/blk.sh.
source "$FRANCA_REPO/tests/integration/lib.sh"
RING=split TRANSPORT=pci
source "$FRANCA_REPO/tests/integration/virtio/blk.sh"
