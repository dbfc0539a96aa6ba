# virtio-console + two disks on virtio-mmio with split rings: see tests/integration/virtio/console.sh.
source "$FRANCA_REPO/tests/integration/lib.sh"
RING=split
source "$FRANCA_REPO/tests/integration/virtio/console.sh"
