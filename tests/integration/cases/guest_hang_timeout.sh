# A hung guest is stopped by --timeout with exit status 124.
source "$FRANCA_REPO/tests/integration/lib.sh"
make_initramfs initrd.gz '
echo HANGING
while :; do sleep 1000; done'
start=$(date +%s)
rc=$(run_franca serial.log --initrd initrd.gz --memory 256M --timeout 45)
expect_eq "$rc" 124 "exit status"
grep -aq HANGING serial.log || fail "guest never reached its init"
log "stopped after $(( $(date +%s) - start ))s"
