# The stock kernel boots with 1 vCPU and 256M, reports what it sees, powers off: exit 0.
source "$FRANCA_REPO/tests/integration/lib.sh"
make_initramfs initrd.gz '
echo CPUS=$(grep -c ^processor /proc/cpuinfo)
echo MEMTOTAL_KB=$(awk "/MemTotal/ {print \$2}" /proc/meminfo)
echo CMDLINE=$(cat /proc/cmdline)
poweroff -f'
rc=$(run_franca serial.log --initrd initrd.gz --cpus 1 --memory 256M --cmdline "console=ttyS0 quiet panic=-1 franca.test=boot1" --timeout 300)
expect_eq "$rc" 0 "exit status"
expect_eq "$(guest_value serial.log CPUS)" 1 "guest CPU count"
mem=$(guest_value serial.log MEMTOTAL_KB)
(( mem > 200000 && mem <= 262144 )) || fail "MemTotal $mem kB not within (200000, 262144] for 256M"
log "ok: MemTotal $mem kB"
expect_eq "$(guest_value serial.log CMDLINE)" "console=ttyS0 quiet panic=-1 franca.test=boot1" "guest cmdline"
