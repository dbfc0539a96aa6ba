#!/usr/bin/env python3
"""Holds one idle KVM VM with one vCPU (in-kernel irqchip, never run) for the
whole life of the nested L1, so L1's kernel does not rewrite its own code each
time an L2 VM comes or goes.

Why: KVM counts vCPUs whose local APIC is still software-disabled in a static
key (`apic_sw_disabled`): creating a vCPU takes it 0 -> 1 and the guest enabling
its APIC takes it back to 0 about a second later, and each 0 <-> 1 flip patches
every site of that branch in L1's KVM code with int3-based text poking while
the other L1 CPU may be running that code. Under QEMU's multi-threaded TCG, L1
wedged (a CPU frozen at exc_int3+0x4e with interrupts off, the same RIP in two
CI runs) or died (stack overflow in error_entry on a vCPU thread; triple
faults) around L2 boots, with franca and with QEMU as the L2 VMM. With this vCPU
held (its APIC never enabled), the count never drops to 0, so no L2 VM start or
stop flips the key. Started by l1-init.sh; a failure only costs the workaround.
"""
import fcntl
import os
import signal
import sys

KVM_CREATE_VM = 0xAE01
KVM_CREATE_VCPU = 0xAE41
KVM_CREATE_IRQCHIP = 0xAE60


def main():
    try:
        kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
        vm = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
        fcntl.ioctl(vm, KVM_CREATE_IRQCHIP, 0)
        fcntl.ioctl(vm, KVM_CREATE_VCPU, 0)
    except OSError as e:
        print(f"kvm-hold: no idle VM held ({e})", file=sys.stderr)
        return 1
    print("kvm-hold: holding an idle VM with one vCPU (APIC never enabled)", flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
