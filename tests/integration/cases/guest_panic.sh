# A guest kernel panic (panic=-1: reboot at once) ends franca with the guest-reset status 125.
source "$FRANCA_REPO/tests/integration/lib.sh"
make_initramfs initrd.gz '
echo c > /proc/sysrq-trigger
sleep 30'
rc=$(run_franca serial.log --initrd initrd.gz --memory 256M --cmdline "console=ttyS0 panic=-1" --timeout 300)
expect_eq "$rc" 125 "exit status"
grep -aq "Kernel panic" serial.log || fail "no 'Kernel panic' on the console"
