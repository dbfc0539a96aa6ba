# virtio-balloon, target mode, on virtio-mmio: see tests/integration/virtio/balloon.sh.
source "$FRANCA_REPO/tests/integration/lib.sh"
TRANSPORT=mmio MODE=target
source "$FRANCA_REPO/tests/integration/virtio/balloon.sh"
