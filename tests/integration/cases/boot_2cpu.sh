# The stock kernel boots with 2 vCPUs and 256M, both enumerated through ACPI, reports what it sees, powers off: exit 0.
source "$FRANCA_REPO/tests/integration/lib.sh"
make_initramfs initrd.gz '
echo CPUS=$(grep -c ^processor /proc/cpuinfo)
echo MEMTOTAL_KB=$(awk "/MemTotal/ {print \$2}" /proc/meminfo)
echo CMDLINE=$(cat /proc/cmdline)
echo ACPI_SMP=$(dmesg | grep -c "Using ACPI (MADT) for SMP")
echo ONLINE=$(cat /sys/devices/system/cpu/online)
poweroff -f'
rc=$(run_franca serial.log --initrd initrd.gz --cpus 2 --memory 256M --cmdline "console=ttyS0 quiet panic=-1 franca.test=boot2" --timeout 300)
expect_eq "$rc" 0 "exit status"
expect_eq "$(guest_value serial.log CPUS)" 2 "guest CPU count"
mem=$(guest_value serial.log MEMTOTAL_KB)
(( mem > 200000 && mem <= 262144 )) || fail "MemTotal $mem kB not within (200000, 262144] for 256M"
log "ok: MemTotal $mem kB"
expect_eq "$(guest_value serial.log CMDLINE)" "console=ttyS0 quiet panic=-1 franca.test=boot2" "guest cmdline"
expect_eq "$(guest_value serial.log ACPI_SMP)" 1 "SMP configuration taken from the ACPI MADT"
expect_eq "$(guest_value serial.log ONLINE)" 0-1 "online CPUs"
