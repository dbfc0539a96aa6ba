# virtio-console (hvc0) beside two virtio-blk disks, all on one transport; shared
# by cases/console_*.sh (RING=split|packed, TRANSPORT=mmio|pci).
# The guest's shell runs on hvc0 with franca's stdin/stdout (--console stdio);
# a command typed on the host runs in the guest (the typed "$((6 * 7))" comes
# back as 42 only if the shell executed it); the terminal size reaches the
# guest's config space; both disks are visible.
: "${RING:?}" "${TRANSPORT:?}"
NOMSI=${NOMSI:-0}
source "$FRANCA_REPO/tests/integration/virtio/transport.sh"
features=",transport=$TRANSPORT"
[[ $RING == packed ]] || features+=",features=-ring_packed"
truncate -s 8M a.img
truncate -s 4M b.img

make_initramfs initrd.gz '
exec 0<>/dev/hvc0 1>&0 2>&0
echo HVC_DISKS=$(ls /sys/block | grep -c ^vd)
echo HVC_SIZE_BYTES=$(cat /sys/block/vda/size)/$(cat /sys/block/vdb/size)
for d in /sys/bus/virtio/devices/*; do
  [ "$(cat $d/device)" = 0x0003 ] && echo HVC_FEATURES=$(cat $d/features)
done
'"$TRANSPORT_GUEST_REPORT"'
echo HVC-READY
exec setsid cttyhack sh' "$TRANSPORT_MODULES virtio_blk virtio_console"

mkfifo input
exec 3<>input  # keep the fifo open: franca never sees EOF
"$FRANCA_BIN" --kernel "$KERNEL" --initrd initrd.gz --memory 256M --serial file:serial.log --api-socket api.sock \
  --cmdline "console=ttyS0 console=hvc0 panic=-1$TRANSPORT_CMDLINE" --timeout 300 \
  --disk "path=a.img$features" --disk "path=b.img$features" --console "stdio$features" \
  --log-level info <input >console.log 2>franca.err &
pid=$!
wait_for() {  # wait_for PATTERN: until the guest printed it on hvc0 (or franca died)
  for _ in $(seq 600); do
    grep -aq "$1" console.log && return 0
    kill -0 "$pid" 2>/dev/null || { cat franca.err; tail -n 40 serial.log; fail "franca exited before '$1'"; }
    sleep 0.5
  done
  cat franca.err; tail -n 40 serial.log; fail "guest never printed '$1' on hvc0"
}
wait_for HVC-READY
sleep 1  # let the shell start reading
echo 'echo "TYPED=$((6 * 7))"; poweroff -f' >&3
rc=0; wait "$pid" || rc=$?
cat franca.err
echo "--- hvc0 ---"; cat console.log
expect_eq "$rc" 0 "exit status after poweroff typed on hvc0"
grep -aq "TYPED=42" console.log || fail "the typed command did not run in the guest's hvc0 shell"
log "ok: a command typed on the host ran on hvc0"
expect_eq "$(guest_value console.log HVC_DISKS)" 2 "disks beside the console"
expect_eq "$(guest_value console.log HVC_SIZE_BYTES)" "16384/8192" "disk sizes in sectors"
f=$(guest_value console.log HVC_FEATURES)
expect_eq "${f:34:1}" "$([[ $RING == packed ]] && echo 1 || echo 0)" "console ring_packed (features bit 34)"
expect_eq "${f:0:1}" 1 "console size feature (bit 0)"
check_transport console.log "0x1042 0x1042 0x1043" 3
