# Bad input on a host with KVM: the checks that need /dev/kvm to be reached
# (initrd too large for RAM, more vCPUs than KVM allows) give one line and exit 2.
source "$FRANCA_REPO/tests/integration/lib.sh"
"$FRANCA_REPO/tests/cli/bad_input.sh" "$FRANCA_BIN" "$KERNEL"
