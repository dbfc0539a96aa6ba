# A hung guest is stopped by --timeout with exit status 124, and franca says
# where each vCPU was (state, registers, local APIC) and what the devices did.
source "$FRANCA_REPO/tests/integration/lib.sh"
make_initramfs initrd.gz '
echo HANGING
while :; do sleep 1000; done'
start=$(date +%s)
rc=$(run_franca serial.log --initrd initrd.gz --memory 256M --cpus 2 --timeout 75 2>franca.err)
cat franca.err
expect_eq "$rc" 124 "exit status"
grep -aq HANGING serial.log || fail "guest never reached its init"
log "stopped after $(( $(date +%s) - start ))s"
for v in 0 1; do
  grep -q -- "--timeout: vcpu$v (thread [0-9]*):" franca.err || fail "no state report for vcpu$v at the timeout"
done
grep -q -- "mp_state \(HALTED\|RUNNABLE\), interrupts" franca.err || fail "the report has no MP state line"
grep -q -- "64-bit: rip 0x" franca.err || fail "the report has no registers"
grep -q -- "lapic: tpr=" franca.err || fail "the report has no local APIC line"
log "ok: --timeout reported both vCPUs' state"
