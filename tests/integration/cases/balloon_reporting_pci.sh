# virtio-balloon, reporting mode, on virtio-pci: see tests/integration/virtio/balloon.sh.
source "$FRANCA_REPO/tests/integration/lib.sh"
TRANSPORT=pci MODE=reporting
source "$FRANCA_REPO/tests/integration/virtio/balloon.sh"
