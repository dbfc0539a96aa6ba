# Durability: two guest processes on two vCPUs write 4 KiB blocks to a
# `queues=2` disk with O_DIRECT and an fsync after every write (franca-blktool);
# once both have had WRITES writes acknowledged, franca is SIGKILLed at once,
# mid-stream. Every write the guest saw acknowledged (printed after its fsync
# returned) must be on the host image, whole.
source "$FRANCA_REPO/tests/integration/lib.sh"
: "${FRANCA_BLKTOOL:=$(dirname "$FRANCA_BIN")/../tests/support/franca-blktool}"
[[ -x $FRANCA_BLKTOOL ]] || fail "no franca-blktool at $FRANCA_BLKTOOL (built with the tests)"
ring=128 writes=150

truncate -s 8M disk.img
make_initramfs initrd.gz "
blktool write -w 0 -b 0 -r $ring -n 1000000 -e 1 -l W0 /dev/vda &
blktool write -w 1 -b $ring -r $ring -n 1000000 -e 1 -l W1 /dev/vda &
wait
echo WRITERS-ENDED" "virtio_pci virtio_blk" "$FRANCA_BLKTOOL:/bin/blktool"

: >serial.log
"$FRANCA_BIN" --kernel "$KERNEL" --initrd initrd.gz --cpus 2 --memory 256M --serial file:serial.log \
  --cmdline "console=ttyS0 panic=-1 quiet" --timeout 400 --api-socket api.sock \
  --disk path=disk.img,queues=2 --log-level info 2>franca.err &
pid=$!
acked() { guest_value serial.log "$1_ACKED" || true; }  # no line yet is not an error
w0=0 w1=0
for _ in $(seq 1200); do
  w0=$(acked W0) w1=$(acked W1)
  (( ${w0:-0} >= writes && ${w1:-0} >= writes )) && break
  ! grep -aq "_ERROR=" serial.log || break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.25
done
kill -KILL "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
# What the guest saw acknowledged by the time franca died (lines can only have
# been printed after the fsync returned).
w0=$(acked W0) w1=$(acked W1)
cat franca.err
tail -n 5 serial.log
! grep -a "_ERROR=" serial.log || fail "a guest write or fsync failed"
(( ${w0:-0} >= writes && ${w1:-0} >= writes )) ||
  fail "the writers did not reach $writes acknowledged writes each (W0=${w0:-0} W1=${w1:-0})"
log "killed franca with W0=$w0 and W1=$w1 writes acknowledged"
expect_eq "$("$FRANCA_BLKTOOL" verify -w 0 -b 0 -r $ring -n "$w0" disk.img)" "VERIFY_OK=$w0" "writer 0's acknowledged writes on the image"
expect_eq "$("$FRANCA_BLKTOOL" verify -w 1 -b $ring -r $ring -n "$w1" disk.img)" "VERIFY_OK=$w1" "writer 1's acknowledged writes on the image"
