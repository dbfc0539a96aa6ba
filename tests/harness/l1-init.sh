#!/bin/sh
# /init of the nested L1 host booted by tests/harness/run-on-kvm.sh (busybox sh).
# Mounts L0's root read-only over 9p at /host, the writable shares at their L0
# paths, runs OUTDIR/cmd.sh in `chroot /host`, writes its status to OUTDIR/rc
# and powers off. Its settings come from the `out` share: l1.conf, rw. The
# kernel console is ttyS0 (a log file on L0); CMD's output and the [L1] lines
# go to ttyS1 (the harness's stdout), the [L1] lines to the console as well.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
/bin/load-modules
echo 1 >/proc/sys/kernel/sysrq  # the harness's post-mortem of a stuck L1 sends sysrq w and t

say() { echo "$*"; echo "$*" >/dev/ttyS1; }
die() { say "[L1] error: $*"; sync; poweroff -f; }
p9="trans=virtio,version=9p2000.L,msize=262144"
mkdir -p /out /host
mount -t 9p -o "$p9" out /out || die "cannot mount the 'out' 9p share"
OUTDIR="" SCRATCH="" VFIO=0
. /out/l1.conf
# The host root never changes during a run: let L1 cache it (much faster exec).
mount -t 9p -o "$p9,ro,cache=loose" host /host || die "cannot mount L0's root"
for d in dev proc sys; do mount --rbind "/$d" "/host/$d" || die "cannot bind /$d"; done
mount -t tmpfs -o mode=1777 tmpfs /host/tmp
mount -t tmpfs -o mode=755 tmpfs /host/run
# Writable shares and a checkout under /tmp (after the tmpfs mounts, so paths
# under /tmp stay visible), each at its L0 path; the out share last, also at
# its L0 path.
while read -r tag path ro; do
  mkdir -p "/host$path" 2>/dev/null
  mount -t 9p -o "$p9${ro:+,ro}" "$tag" "/host$path" || die "cannot mount $path"
done </out/rw
mkdir -p "/host$OUTDIR" 2>/dev/null
mount --bind /out "/host$OUTDIR" || die "cannot bind $OUTDIR"

# Scratch disk: a fresh ext4 on the virtio disk (mkfs.ext4 from L0's root).
if [ -n "$SCRATCH" ]; then
  chroot /host /bin/sh -c 'PATH=/usr/sbin:/sbin:/usr/bin:/bin exec mkfs.ext4 -q -F /dev/vda' ||
    die "mkfs.ext4 on the scratch disk failed"
  mkdir -p "/host$SCRATCH" && mount -t ext4 -o noinit_itable /dev/vda "/host$SCRATCH" ||
    die "cannot mount the scratch disk at $SCRATCH"
  chmod 1777 "/host$SCRATCH"
fi

ip link set lo up
hostname franca-l1
# The VFIO flavour (run-on-kvm.sh): the e1000e to vfio-pci, its hub peer named wire0.
if [ "$VFIO" = 1 ]; then
  vdev=""
  for d in /sys/bus/pci/devices/*; do
    [ "$(cat "$d/vendor")" = 0x8086 ] && [ "$(cat "$d/device")" = 0x10d3 ] && vdev=${d##*/}
  done
  drv=""
  if [ -n "$vdev" ]; then
    echo vfio-pci >"/sys/bus/pci/devices/$vdev/driver_override"
    echo "$vdev" >/sys/bus/pci/drivers_probe
    drv=$(readlink "/sys/bus/pci/devices/$vdev/driver")
  fi
  for n in /sys/class/net/*; do
    [ "$(cat "$n/address")" != 52:54:00:fa:00:02 ] || ip link set "${n##*/}" name wire0
  done
  if [ "${drv##*/}" = vfio-pci ] && [ -e /sys/class/net/wire0 ] && [ -c /dev/vfio/vfio ]; then
    { echo "export FRANCA_L1_VFIO_DEV=/sys/bus/pci/devices/$vdev"; echo "export FRANCA_L1_WIRE=wire0"; } >/out/l1-env
    say "[L1] e1000e $vdev bound to vfio-pci (IOMMU group $(basename "$(readlink "/sys/bus/pci/devices/$vdev/iommu_group")")), its wire: wire0"
  else
    say "[L1] warning: no VFIO passthrough NIC (e1000e: '${vdev:-none}', driver '${drv##*/}'; wire0: $(ls /sys/class/net | xargs))"
  fi
fi
[ -c /dev/kvm ] || say "[L1] warning: no /dev/kvm (kvm_amd did not load?)"
say "[L1] up after $(cut -d' ' -f1 /proc/uptime)s of L1 uptime"
# Heartbeat for the harness's watchdog: L1's uptime in the out share every 10 s.
# When it stops, L1's own user space no longer runs (wedged or dying).
(while :; do cut -d' ' -f1 /proc/uptime >/out/heartbeat; sleep 10; done) </dev/null >/dev/null 2>&1 &
# L1's kernel text symbols (KASLR'd addresses) for the post-mortem of a stuck
# or dead L1: tests/harness/symbolise.py names the RIPs in QEMU's dumps.
# Written before CMD starts, not beside it: two L1s in a row triple-faulted (in
# __svm_vcpu_run, right after VMRUN returned) while this dump was still being
# written next to a booting L2 (see the README, "L1 deaths").
t0=$(cut -d' ' -f1 /proc/uptime)
awk '$2 ~ /^[tTwW]$/' /proc/kallsyms >/out/kallsyms.tmp && mv /out/kallsyms.tmp /out/kallsyms
say "[L1] kallsyms written (from ${t0}s to $(cut -d' ' -f1 /proc/uptime)s of uptime)"
# An idle KVM VM held for L1's whole life, so L2 VMs coming and going do not
# make L1's kernel patch its own code (tests/harness/kvm-hold.py says why).
[ ! -f /out/kvm-hold.py ] || chroot /host python3 "$OUTDIR/kvm-hold.py" </dev/null >/out/kvm-hold.log 2>&1 &
chroot /host /bin/bash "$OUTDIR/cmd.sh" </dev/null >/dev/ttyS1 2>&1
echo $? >/out/rc
sync
poweroff -f
