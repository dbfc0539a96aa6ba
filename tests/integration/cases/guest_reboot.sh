# `reboot` in the guest ends franca with the guest-reset status 125.
source "$FRANCA_REPO/tests/integration/lib.sh"
make_initramfs initrd.gz 'reboot -f'
rc=$(run_franca serial.log --initrd initrd.gz --memory 256M --timeout 300)
expect_eq "$rc" 125 "exit status"
