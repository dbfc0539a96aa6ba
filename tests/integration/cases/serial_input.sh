# Serial input: a line typed on the host (franca's stdin) reaches the guest's
# shell on ttyS0; and SIGTERM stops franca cleanly with status 128+15.
source "$FRANCA_REPO/tests/integration/lib.sh"
make_initramfs initrd.gz '
echo READY-FOR-INPUT
read -r line
echo "GOT=$line"
echo WAITING-FOR-SIGTERM
while :; do sleep 1000; done'
mkfifo input
exec 3<>input  # keep the fifo open so franca never sees EOF
"$FRANCA_BIN" --kernel "$KERNEL" --initrd initrd.gz --memory 256M --serial stdio \
  --cmdline "console=ttyS0 quiet panic=-1" --timeout 300 <input >serial.log 2>franca.err &
pid=$!
wait_for() {  # wait_for PATTERN: until the guest printed it (or franca died)
  for _ in $(seq 600); do
    grep -aq "$1" serial.log && return 0
    kill -0 "$pid" 2>/dev/null || fail "franca exited before the guest printed '$1'"
    sleep 0.5
  done
  fail "guest never printed '$1'"
}
wait_for READY-FOR-INPUT
sleep 1  # let the shell reach `read`
echo "hello from the host $((6 * 7))" >&3
wait_for WAITING-FOR-SIGTERM
expect_eq "$(guest_value serial.log GOT)" "hello from the host 42" "line read by the guest"
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
cat franca.err
expect_eq "$rc" 143 "exit status after SIGTERM"
