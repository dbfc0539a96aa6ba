# virtio-blk, shared by cases/blk_*.sh (sourced after lib.sh with RING=split|packed,
# TRANSPORT=mmio|pci and, for pci, NOMSI=1 to boot with pci=nomsi). One boot checks:
#  - the guest reads a host-prepared pattern from /dev/vda (hash compared);
#  - it writes another pattern with O_DIRECT + fsync, and franca is SIGKILLed right
#    after the guest saw the write complete: the host file must hold the pattern;
#  - blkdiscard makes the host file sparser; serial= shows in /sys/block/vda/serial;
#  - a readonly=on disk (vdb) refuses writes;
#  - the ring format the driver negotiated is the one asked for (features= mask
#    takes effect: /sys/bus/virtio/devices/*/features bit 34 = ring_packed);
#  - pci: the guest sees 1af4:1042 functions and uses PCI-MSI vectors for them,
#    or (NOMSI=1) none, the disks then working over INTx (see transport.sh).
: "${RING:?}" "${TRANSPORT:?}"
NOMSI=${NOMSI:-0}
source "$FRANCA_REPO/tests/integration/virtio/transport.sh"
features=",transport=$TRANSPORT"
[[ $RING == packed ]] || features+=",features=-ring_packed"

head -c 16M /dev/urandom >disk.img
head -c 4M /dev/urandom >ro.img
host_sha=$(sha256sum disk.img | cut -d' ' -f1)
ro_sha=$(sha256sum ro.img | cut -d' ' -f1)

make_initramfs initrd.gz '
echo READ_SHA=$(sha256sum /dev/vda | cut -d" " -f1)
echo SERIAL=$(cat /sys/block/vda/serial)
echo RO_FLAG=$(cat /sys/block/vdb/ro)
for d in /sys/bus/virtio/devices/*; do
  [ "$(cat $d/device)" = 0x0002 ] && echo FEATURES_$(basename $(readlink $d/driver))_$(ls $d/block)=$(cat $d/features)
done
echo 0123456789abcdef | dd of=/dev/vdb bs=512 count=1 conv=sync oflag=direct 2>/dev/null && echo RO_WRITE=accepted || echo RO_WRITE=refused
echo RO_SHA=$(sha256sum /dev/vdb | cut -d" " -f1)
'"$TRANSPORT_GUEST_REPORT"'
blkdiscard -o 8388608 -l 8388608 /dev/vda && echo DISCARD=ok || echo DISCARD=failed
dd if=/dev/urandom of=/tmp/pattern bs=1M count=4 2>/dev/null
dd if=/tmp/pattern of=/dev/vda bs=1M count=4 oflag=direct conv=fsync 2>/dev/null && echo WRITE=ok || echo WRITE=failed
echo WROTE_SHA=$(sha256sum /tmp/pattern | cut -d" " -f1)
echo WAITING-FOR-KILL
while :; do sleep 1000; done' "$TRANSPORT_MODULES virtio_blk"

blocks_before=$(stat -c %b disk.img)
"$FRANCA_BIN" --kernel "$KERNEL" --initrd initrd.gz --memory 256M --serial file:serial.log --api-socket api.sock \
  --cmdline "console=ttyS0 panic=-1 quiet$TRANSPORT_CMDLINE" --timeout 300 \
  --disk "path=disk.img,serial=franca-$RING$features" --disk "path=ro.img,readonly=on$features" \
  --log-level info 2>franca.err &
pid=$!
for _ in $(seq 600); do
  grep -aq WAITING-FOR-KILL serial.log 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.5
done
kill -KILL "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
cat franca.err
tail -n 30 serial.log
grep -aq WAITING-FOR-KILL serial.log || fail "guest did not finish its checks"

expect_eq "$(guest_value serial.log READ_SHA)" "$host_sha" "pattern read by the guest"
expect_eq "$(guest_value serial.log SERIAL)" "franca-$RING" "serial= in /sys/block/vda/serial"
expect_eq "$(guest_value serial.log RO_FLAG)" 1 "readonly disk flag"
expect_eq "$(guest_value serial.log RO_WRITE)" refused "write to the readonly disk"
expect_eq "$(guest_value serial.log RO_SHA)" "$ro_sha" "readonly disk content"
expect_eq "$(sha256sum ro.img | cut -d' ' -f1)" "$ro_sha" "readonly image unchanged on the host"
expect_eq "$(guest_value serial.log DISCARD)" ok "blkdiscard"
expect_eq "$(guest_value serial.log WRITE)" ok "O_DIRECT write + fsync"
expect_eq "$(head -c 4M disk.img | sha256sum | cut -d' ' -f1)" "$(guest_value serial.log WROTE_SHA)" \
  "pattern on the host file after SIGKILL"
blocks_after=$(stat -c %b disk.img)
(( blocks_after < blocks_before )) || fail "discard did not make the image sparser ($blocks_before -> $blocks_after blocks)"
log "ok: image blocks $blocks_before -> $blocks_after after discard"
features_vda=$(guest_value serial.log FEATURES_virtio_blk_vda)
[[ -n $features_vda ]] || fail "guest did not report vda's features"
expect_eq "${features_vda:34:1}" "$([[ $RING == packed ]] && echo 1 || echo 0)" "ring_packed negotiated (features bit 34)"
check_transport serial.log "0x1042 0x1042" 2
