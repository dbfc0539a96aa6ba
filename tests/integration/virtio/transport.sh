# Transport-specific parts of the virtio cases (sourced with TRANSPORT=mmio|pci,
# NOMSI=0|1): guest modules, cmdline, a guest-side report and host-side checks.
#  - pci: every virtio function is vendor 0x1af4 with device 0x1040 + type, and
#    its interrupts are PCI-MSI (one line per vector in /proc/interrupts) or,
#    with pci=nomsi, none are and the devices run on INTx (IO-APIC lines).
#  - mmio: no virtio PCI function exists.
case $TRANSPORT in
  mmio) TRANSPORT_MODULES=virtio_mmio ;;
  pci) TRANSPORT_MODULES=virtio_pci ;;
  *) fail "TRANSPORT=$TRANSPORT: expected mmio or pci" ;;
esac
TRANSPORT_CMDLINE=""
[[ $NOMSI == 1 ]] && TRANSPORT_CMDLINE=" pci=nomsi"
TRANSPORT_GUEST_REPORT='
ids=""; for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor)" = 0x1af4 ] && ids="$ids $(cat $d/device)"; done
echo PCI_VIRTIO_IDS=$(echo $ids | tr " " "\n" | sort | tr "\n" " ")
echo MSI_VIRTIO_LINES=$(grep PCI-MSI /proc/interrupts | grep -c virtio)
echo IOAPIC_VIRTIO_LINES=$(grep IO-APIC /proc/interrupts | grep -c virtio)'

# check_transport LOG "EXPECTED_PCI_IDS" DEVICES
check_transport() {
  local out=$1 ids=$2 devices=$3 msi intx
  msi=$(guest_value "$out" MSI_VIRTIO_LINES)
  intx=$(guest_value "$out" IOAPIC_VIRTIO_LINES)
  if [[ $TRANSPORT == mmio ]]; then
    expect_eq "$(guest_value "$out" PCI_VIRTIO_IDS | xargs)" "" "no virtio PCI functions"
    return
  fi
  expect_eq "$(guest_value "$out" PCI_VIRTIO_IDS | xargs)" "$ids" "virtio PCI device ids (vendor 0x1af4)"
  if [[ $NOMSI == 1 ]]; then
    expect_eq "$msi" 0 "no PCI-MSI vectors with pci=nomsi"
    (( intx >= 1 )) || fail "no IO-APIC (INTx) interrupt line for virtio with pci=nomsi"
    log "ok: $intx INTx line(s) for $devices virtio device(s)"
  else
    # each device: one config vector + at least one queue vector
    (( msi >= 2 * devices )) || fail "expected >= $((2 * devices)) PCI-MSI vectors for virtio, got $msi"
    log "ok: $msi PCI-MSI vectors for $devices virtio device(s)"
  fi
}
