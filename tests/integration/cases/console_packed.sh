# virtio-console + two disks on virtio-mmio with packed rings: see tests/integration/virtio/console.sh.
source "$FRANCA_REPO/tests/integration/lib.sh"
RING=packed TRANSPORT=mmio
source "$FRANCA_REPO/tests/integration/virtio/console.sh"
