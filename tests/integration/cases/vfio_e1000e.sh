# VFIO passthrough, no failover: L1's e1000e (the nested harness's VFIO flavour
# binds it to vfio-pci) passed to the guest with --vfio; the guest's own e1000e
# driver probes it and moves 32 MiB each way at once over one TCP connection to
# L1's wire0 (the NIC on the e1000e's QEMU hub), every byte checked at both
# ends; the device's interrupts arrive as MSI-X (franca ctl status: irq_mode
# msix; the guest counts them on eth0's vectors); the BARs but the MSI-X pages
# are mapped straight into the guest.
source "$FRANCA_REPO/tests/integration/lib.sh"
need_l1_vfio_nic
NET_WIRE=$FRANCA_L1_WIRE
TRANSPORT=pci
source "$FRANCA_REPO/tests/integration/virtio/net.sh"
NET_MAC=52:54:00:fa:00:01  # the e1000e's own (run-on-kvm.sh)
NET_BYTES=$((32 << 20))
NET_EXTRA_MODULES=e1000e
net_setup_wire
net_make_initrd "$(net_guest_transfer)"'
echo VFIO_DRIVER=$(basename $(readlink /sys/class/net/eth0/device/driver))
echo VFIO_ID=$(cat /sys/class/net/eth0/device/vendor):$(cat /sys/class/net/eth0/device/device)
echo VFIO_MSIX_VECTORS=$(grep -c "PCI-MSI.*eth0" /proc/interrupts)
echo VFIO_MSIX_INTERRUPTS=$(awk "/PCI-MSI.*eth0/ {for (i = 2; i <= NF && \$i ~ /^[0-9]+\$/; i++) s += \$i} END {print s + 0}" /proc/interrupts)'
net_listen H 5001 -n "$NET_BYTES"
net_start "" --vfio "path=$FRANCA_L1_VFIO_DEV"
net_wait NET_DONE 480
status=$(net_ctl status)
expect_eq "$(device_field vfio0 type <<<"$status")" vfio "vfio0's type in franca ctl status"
expect_eq "$(device_field vfio0 host <<<"$status")" "${FRANCA_L1_VFIO_DEV##*/}" "vfio0's host function"
expect_eq "$(device_field vfio0 irq_mode <<<"$status")" msix "vfio0's irq_mode"
expect_eq "$(device_field vfio0 device_errors <<<"$status")" 0 "vfio0's device_errors"
(($(device_field vfio0 direct_kib <<<"$status") >= 128)) || fail "BAR0 (128 KiB) not mapped straight: $status"
net_finish
net_check_guest "QEMU's e1000e counts each frame under 64 bytes from the unpadded virtio wire as undersize"
net_expect VFIO_DRIVER e1000e "the guest's driver of eth0"
net_expect VFIO_ID 0x8086:0x10d3 "eth0's vendor:device in the guest"
((${NV[VFIO_MSIX_VECTORS]:-0} >= 2)) || fail "eth0 uses ${NV[VFIO_MSIX_VECTORS]:-0} MSI-X vectors, expected its rx/tx ones"
((${NV[VFIO_MSIX_INTERRUPTS]:-0} > 0)) || fail "no MSI-X interrupt counted on eth0's vectors"
log "ok: eth0 on ${NV[VFIO_MSIX_VECTORS]} MSI-X vectors, ${NV[VFIO_MSIX_INTERRUPTS]} interrupts"
net_check_transfer H G "$NET_BYTES"
grep -q 'VFIO .* mapped straight' franca.err || fail "franca did not log the VFIO function's placement"
