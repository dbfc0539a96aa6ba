# Sourced (bash) by tests/harness/run-on-kvm.sh and scripts/quickstart.sh: the
# one rule for "this host's /dev/kvm boots the stock kernel", so both go nested
# on the same hosts.
#
# dev_usable PATH: a character device that opens read/write (-c first: a bare
# `<>` redirection would create the node as a regular file).
dev_usable() { [[ -c $1 && -r $1 && -w $1 ]] && (exec 3<>"$1") 2>/dev/null; }

# KVM-PVM (a paravirtual /dev/kvm some cloud VMs offer, /sys/module/kvm_pvm)
# boots only CONFIG_PVM_GUEST kernels, never the stock Debian one: treat it as no
# KVM. franca refuses it too (vmm/core/kvm.cc); FRANCA_ALLOW_PVM does not apply
# here, the harness and the quickstart boot stock kernels.
kvm_usable() { dev_usable /dev/kvm && [[ ! -d /sys/module/kvm_pvm ]]; }

# kvm_unusable_reason: why kvm_usable fails, as a phrase for a message.
kvm_unusable_reason() {
  if [[ ! -e /dev/kvm ]]; then
    echo "no /dev/kvm"
  elif ! dev_usable /dev/kvm; then
    echo "/dev/kvm does not open read/write"
  elif [[ -d /sys/module/kvm_pvm ]]; then
    echo "/dev/kvm is KVM-PVM, which cannot boot a stock kernel"
  else
    echo "/dev/kvm is usable"
  fi
}
