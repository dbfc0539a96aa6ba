# virtio-balloon beside a vhost-net NIC (both virtio-pci): the guest fills and
# frees 300 MiB with free page reporting on, so franca releases those pages
# (MADV_DONTNEED) while the host kernel's vhost-net keeps the same mapping;
# the guest then reuses freed memory for its network buffers and moves 64 MiB
# each way, every byte checked at both ends — vhost writes into pages the
# balloon gave back. See tests/integration/virtio/net.sh and balloon.sh.
source "$FRANCA_REPO/tests/integration/lib.sh"
TRANSPORT=pci
source "$FRANCA_REPO/tests/integration/virtio/net.sh"
NET_EXTRA_MODULES=virtio_balloon
net_setup_tap
net_make_initrd "mount -t tmpfs -o size=320M tmpfs /mnt
dd if=/dev/zero of=/mnt/fill bs=1M count=300 2>/dev/null; echo FILL_RC=\$?
rm /mnt/fill; echo FREED=1
sleep 10  # page reporting runs about 2 s after the free
$(net_guest_transfer)"
net_listen H 5001 -n "$NET_BYTES"
net_start "tap=$NET_TAP,mac=$NET_MAC,backend=vhost,transport=$TRANSPORT" --balloon free_page_reporting=on
net_wait NET_DONE 480
counters=$(net_ctl counters balloon0)
log "balloon0 counters: $counters"
reported=$(json_value pages_reported <<<"$counters")
(( reported >= 200 * 256 )) || fail "pages_reported $reported: the guest reported less than its 300 MiB free"
log "ok: $((reported / 256)) MiB reported and released over the run (a block freed twice counts twice)"
expect_eq "$(json_value backend <<<"$(net_ctl status)")" vhost "backend in franca ctl status"
net_finish
expect_eq "$(guest_value serial.log FILL_RC)" 0 "the guest filled 300 MiB"
net_check_guest
net_check_transfer H G "$NET_BYTES"
