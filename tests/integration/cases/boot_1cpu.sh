# The stock kernel boots with 1 vCPU and 256M, reports what it sees, powers off: exit 0.
source "$FRANCA_REPO/tests/integration/lib.sh"
boot_and_report 1 boot1
expect_eq "$(guest_value serial.log ONLINE)" 0 "online CPUs"
