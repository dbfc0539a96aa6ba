# virtio-blk over virtio-pci with packed rings, guest booted with pci=nomsi so
# every interrupt is INTx + ISR: see tests/integration/virtio/blk.sh.
source "$FRANCA_REPO/tests/integration/lib.sh"
RING=packed TRANSPORT=pci NOMSI=1
source "$FRANCA_REPO/tests/integration/virtio/blk.sh"
