# The stock kernel boots with 2 vCPUs and 256M, both enumerated through the ACPI
# MADT, reports what it sees, powers off: exit 0.
source "$FRANCA_REPO/tests/integration/lib.sh"
boot_and_report 2 boot2
expect_eq "$(guest_value serial.log ACPI_SMP)" 1 "SMP configuration taken from the ACPI MADT"
expect_eq "$(guest_value serial.log ONLINE)" 0-1 "online CPUs"
