#!/usr/bin/env bash
# The concurrent-flush loop of issue 16: a 2-vCPU guest with a `queues=2` disk,
# two writers each doing 4 KiB O_DIRECT writes with an fsync after every one
# (franca-blktool), ITERATIONS boots in a row. A boot where neither writer
# acknowledges a write for STALL_SECS is a stall: the evidence (thread stacks,
# counters, vCPU registers and APIC state, KVM exit counters) is printed, then
# franca is killed. A guest reset (franca exit 125) is reported with franca's log.
# After each boot the host image must hold every acknowledged write.
#
# usage (inside the harness, from a checkout with a build):
#   tests/harness/run-on-kvm.sh --scratch 2G -- tests/stress/blk_fsync_loop.sh \
#     [--writer blktool|dd|ext4] [--stall SECS] [--cpus N] [--queues N] [--transport pci|mmio] \
#     [ITERATIONS] [WRITES]
# (options, not variables: the harness passes only FRANCA_* variables into L1)
#   --stall: no acknowledged write for SECS is a stall (60); --cpus 2, --queues 2,
#   --transport pci; --vmm qemu boots the same guest on QEMU (-accel kvm, q35,
#   virtio-blk-pci with num-queues) as the control: a failure it shares is not
#   franca's (no franca evidence then; a guest crash is read from its console). FRANCA_EXTRA: more franca arguments; FRANCA_GUEST_CMDLINE:
#   appended to the guest command line. --writer: blktool (one
#      process per writer); dd (a shell loop running `dd oflag=direct conv=fsync` per
#      write, as a user would try it — a fork and exec per write, much more guest
#      scheduling, IPIs and page-table churn; its writes are not checked on the image;
#      ext4: blktool writers on two files of an ext4 the host made on the disk, so
#      each fsync is a jbd2 journal commit and a flush; not checked on the image).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${FRANCA_BUILD:-$repo/build}
export FRANCA_REPO=$repo FRANCA_BIN=${FRANCA_BIN:-$build/vmm/franca} FRANCA_CACHE=${FRANCA_CACHE:-$build/cache}
blktool=${FRANCA_BLKTOOL:-$build/tests/support/franca-blktool}
writer=blktool stall=60 cpus=2 queues=2 transport=pci vmm=franca
while [[ ${1:-} == --* ]]; do
  case $1 in
    --writer) writer=${2:?}; shift 2 ;;
    --stall) stall=${2:?}; shift 2 ;;
    --cpus) cpus=${2:?}; shift 2 ;;
    --queues) queues=${2:?}; shift 2 ;;
    --transport) transport=${2:?}; shift 2 ;;
    --vmm) vmm=${2:?}; shift 2 ;;
    *) echo "blk_fsync_loop: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $writer == blktool || $writer == dd || $writer == ext4 ]] || { echo "blk_fsync_loop: --writer $writer" >&2; exit 2; }
iterations=${1:-8} writes=${2:-3000}
work=$(mktemp -d "${FRANCA_SCRATCH:-${TMPDIR:-/tmp}}/fsync-loop.XXXXXX")
export FRANCA_WORK=$work
source "$repo/tests/integration/lib.sh"
set +e
cd "$work" || exit 1
[[ -x $blktool ]] || fail "no franca-blktool at $blktool (scripts/build.sh builds it)"

ring=256  # blocks per writer
if [[ $writer == dd ]]; then
  dd_loop() {  # dd_loop ID FIRST: the shell writer, acknowledging every 10th write
    echo "( i=0; while [ \$i -lt $writes ]; do
      dd if=/dev/zero of=/dev/vda bs=4k count=1 seek=\$(($2 + i % $ring)) oflag=direct conv=fsync,notrunc 2>/dev/null ||
        { echo W$1_ERROR=dd; break; }
      i=\$((i + 1)); [ \$((i % 10)) = 0 ] && echo W$1_ACKED=\$i
    done ) &"
  }
  writers="$(dd_loop 0 0)
$(dd_loop 1 $ring)"
elif [[ $writer == ext4 ]]; then
  writers="mkdir -p /mnt && mount -t ext4 /dev/vda /mnt || echo W0_ERROR=mount
blktool write -w 0 -b 0 -r $ring -n $writes -e 10 -l W0 /mnt/w0 &
blktool write -w 1 -b 0 -r $ring -n $writes -e 10 -l W1 /mnt/w1 &"
else
  writers="blktool write -w 0 -b 0 -r $ring -n $writes -e 10 -l W0 /dev/vda &
blktool write -w 1 -b $ring -r $ring -n $writes -e 10 -l W1 /dev/vda &"
fi
make_initramfs initrd.gz "
$writers
wait
echo WRITERS-DONE
umount /mnt 2>/dev/null
poweroff -f" "virtio_pci virtio_mmio virtio_blk crc32c_generic ext4" "$blktool:/bin/blktool" >/dev/null || fail "initramfs"

acked() { guest_value serial.log "$1_ACKED"; }
pass=0 stalls=0 resets=0 other=0
for ((i = 1; i <= iterations; i++)); do
  rm -f serial.log franca.err api.sock
  truncate -s 0 disk.img && truncate -s 64M disk.img
  [[ $writer != ext4 ]] || PATH=$PATH:/usr/sbin:/sbin mkfs.ext4 -q -F disk.img
  cmdline="console=ttyS0 panic=-1 loglevel=4 ${FRANCA_GUEST_CMDLINE:-}"
  if [[ $vmm == qemu ]]; then
    qemu-system-x86_64 -accel kvm -cpu host -M q35 -m 256 -smp "$cpus" -nodefaults -no-user-config \
      -display none -no-reboot -kernel "$KERNEL" -initrd initrd.gz -append "$cmdline" -serial file:serial.log \
      -drive file=disk.img,if=none,id=d0,format=raw,aio=io_uring \
      -device "virtio-blk-pci,drive=d0,num-queues=$queues" 2>franca.err &
  else
    "$FRANCA_BIN" --kernel "$KERNEL" --initrd initrd.gz --cpus "$cpus" --memory 256M --serial file:serial.log \
      --cmdline "$cmdline" --api-socket api.sock \
      --disk "path=disk.img,queues=$queues,transport=$transport" ${FRANCA_EXTRA:-} --log-level info 2>franca.err &
  fi
  pid=$!
  last="" since=$(date +%s) verdict=""
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    now_acked="$(acked W0)/$(acked W1)"
    if [[ $now_acked != "$last" ]]; then last=$now_acked since=$(date +%s); continue; fi
    grep -aq FRANCA_GUEST_UP serial.log 2>/dev/null || since=$(date +%s)  # still booting
    if (( $(date +%s) - since > stall )); then
      verdict=stall
      echo "[fsync-loop] iteration $i: no write acknowledged for ${stall}s (W0/W1 acked $last)"
      [[ $vmm != franca ]] || franca_evidence "$pid" api.sock
      tail -n 30 serial.log | sed 's/^/  [guest] /'
      kill -KILL "$pid"
      break
    fi
  done
  wait "$pid"
  rc=$?
  w0=$(acked W0) w1=$(acked W1)
  if [[ -z $verdict ]]; then
    if grep -aq "Kernel panic\|double fault" serial.log; then verdict=reset  # QEMU -no-reboot exits 0 then
    elif [[ $rc == 0 ]] && grep -aq WRITERS-DONE serial.log; then verdict=pass
    elif [[ $rc == 125 ]]; then verdict=reset
    else verdict="exit-$rc"; fi
  fi
  # Every acknowledged write must be on the image, whatever the ending.
  durable=ok
  if [[ $writer != blktool ]]; then
    durable="not checked ($writer)"
  else
    "$blktool" verify -w 0 -b 0 -r $ring -n "${w0:-0}" disk.img >verify.out || durable="$(cat verify.out)"
    "$blktool" verify -w 1 -b $ring -r $ring -n "${w1:-0}" disk.img >verify.out || durable="$(cat verify.out)"
  fi
  echo "[fsync-loop] iteration $i: $verdict (rc $rc, acked W0=${w0:-0} W1=${w1:-0}, durable: $durable)"
  case $verdict in
    pass) pass=$((pass + 1)) ;;
    stall) stalls=$((stalls + 1)) ;;
    reset) resets=$((resets + 1)); cat franca.err; grep -a -A30 "double fault\|Kernel panic\|BUG:\|Oops" serial.log | head -n 60 | sed 's/^/  [guest] /' ;;
    *) other=$((other + 1)); cat franca.err; tail -n 40 serial.log | sed 's/^/  [guest] /' ;;
  esac
  [[ $durable == ok || $writer != blktool ]] || other=$((other + 1))
done
echo "[fsync-loop] $iterations iterations: $pass passed, $stalls stalls, $resets guest resets, $other other failures"
rm -rf "$work"
[[ $pass == "$iterations" ]]
