# A verdict the guest writes to the test-exit port (0xf4) becomes franca's exit status.
source "$FRANCA_REPO/tests/integration/lib.sh"
make_initramfs initrd.gz '
verdict 3
sleep 30'
rc=$(run_franca serial.log --initrd initrd.gz --memory 256M --timeout 300)
expect_eq "$rc" 3 "exit status"
