# PCI hotplug of a disk through ACPI (GED + acpiphp): device-del refuses a cold
# removable=off device; device-add makes /dev/vda appear in a running guest
# with no rescan; the guest reads the host's pattern and writes one the host
# then sees; device-del ejects it (gone from /sys/bus/pci); the same disk comes
# back and is removed while the guest has fsynced writes and direct reads in
# flight: the writers end with an error instead of hanging, and every write
# acknowledged before the eject is on the host file; then 50 add/remove cycles
# with franca's fds, MSI GSIs in use and RSS compared before and after.
source "$FRANCA_REPO/tests/integration/lib.sh"
CYCLES=${FRANCA_HOTPLUG_CYCLES:-50}

make_initramfs initrd.gz '
exec 0<>/dev/hvc0 1>&0 2>&0
stty -echo
virtio_pci_count() { n=0; for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor)" = 0x1af4 ] && [ "$(cat $d/device)" = 0x1042 ] && n=$((n+1)); done; echo $n; }
wait_dev() { i=0; while [ $i -lt 600 ]; do [ -b /dev/vda ] && { echo "DEV_UP_$1=$i"; return; }; sleep 0.05; i=$((i+1)); done; echo "DEV_UP_$1=never"; }
wait_gone() { i=0; while [ $i -lt 600 ]; do [ "$(virtio_pci_count)" = 0 ] && { echo "DEV_GONE_$1=$i"; return; }; sleep 0.05; i=$((i+1)); done; echo "DEV_GONE_$1=never"; }
# writer: 4 KiB blocks "BLK-<n>" at 1 MiB + n*4 KiB, each dd fsynced, W_ACK=n after each; W_END when one fails.
# Through fd 4 (the disk opened once), not the path: once the node is gone, "dd of=/dev/vda" would create a file.
writer() { exec 4</dev/vda || { echo W_END=none; return; }; n=0; while [ $n -lt 3000 ] && printf "BLK-%08d" $n | dd of=/proc/self/fd/4 bs=4096 seek=$((256 + n)) conv=sync,notrunc,fsync 2>/dev/null; do echo "W_ACK=$n"; n=$((n+1)); done; echo "W_END=$n"; }
reader() { exec 5</dev/vda || { echo R_END=none; return; }; while dd if=/proc/self/fd/5 of=/dev/null bs=65536 count=64 iflag=direct 2>/dev/null; do :; done; echo R_END=1; }
echo HOTPLUG-READY
while read -r line; do eval "$line"; done' "virtio_pci virtio_console virtio_blk"

head -c 16M /dev/urandom > b.img
hvc_start --cmdline "console=ttyS0 panic=-1" --console stdio --balloon id=bal,removable=off  # a fixed cold device
pid=$HVC_PID
trap 'kill $pid 2>/dev/null || true' EXIT
ctl() { "$FRANCA_BIN" ctl api.sock "$@" || died "franca ctl $* failed"; }
fds() { ls "/proc/$pid/fd" | wc -l; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"; }

wait_for HOTPLUG-READY 240
if out=$("$FRANCA_BIN" ctl api.sock device-del bal 2>&1); then died "device-del of a removable=off device succeeded: $out"; fi
[[ $out == *"not removable"* ]] || died "device-del of a removable=off device failed for another reason: $out"
log "ok: device-del refused the removable=off balloon ($out)"
# The guest's acpi-ged may bind a moment after userspace starts.
for _ in $(seq 50); do "$FRANCA_BIN" ctl api.sock device-add disk path=b.img,serial=hot1 >add.json 2>add.err && break; sleep 0.2; done
grep -q '"id"' add.json || died "device-add never succeeded: $(cat add.err)"
log "device-add: $(cat add.json)"
guest "wait_dev a"
wait_for DEV_UP_a= 60
[[ $(value DEV_UP_a) != never ]] || died "/dev/vda did not appear after device-add"
log "ok: /dev/vda appeared $(( $(value DEV_UP_a) * 50 )) ms after the guest was asked to look"
want=$(head -c 4096 b.img | md5sum | cut -d' ' -f1)
guest 'echo READ_MD5=$(dd if=/dev/vda bs=4096 count=1 2>/dev/null | md5sum | cut -d" " -f1)'
wait_for READ_MD5= 30
expect_eq "$(value READ_MD5)" "$want" "the guest read the host's pattern from the hot-added disk"
guest 'printf "FRANCA-HOTPLUG-WRITE-%s" 1 | dd of=/dev/vda bs=4096 seek=256 conv=sync,fsync 2>/dev/null; echo WROTE=$?'
wait_for WROTE= 30
ctl device-del blk0 >del.json
log "device-del: $(cat del.json)"
grep -q '"removed": *true' del.json || died "device-del did not report the removal"
guest "wait_gone a"
wait_for DEV_GONE_a= 30
[[ $(value DEV_GONE_a) != never ]] || died "the virtio-blk function is still in /sys/bus/pci after device-del"
expect_eq "$(dd if=b.img bs=4096 skip=256 count=1 2>/dev/null | tr -d '\0')" "FRANCA-HOTPLUG-WRITE-1" \
  "the guest's write is on the host file after the eject"

# Back again, then removed with I/O in flight.
ctl device-add disk path=b.img,serial=hot1 >/dev/null
guest "wait_dev b"
wait_for DEV_UP_b= 60
[[ $(value DEV_UP_b) != never ]] || died "/dev/vda did not come back on the second device-add"
guest 'writer & reader & reader &'
for _ in $(seq 300); do
  acked=$(value W_ACK)
((acked < 2999)) || died "the writer finished all its writes: the removal did not stop it (writes to a file where /dev/vda was?)"
  ((${acked:-0} >= 20)) && break
  sleep 0.2
done
((${acked:-0} >= 20)) || died "the writer did not get 20 writes done"
ctl device-del blk0 >del.json
grep -q '"removed": *true' del.json || died "device-del with I/O in flight did not report the removal: $(cat del.json)"
wait_for W_END= 60
wait_for R_END= 60
acked=$(value W_ACK)
((acked < 2999)) || died "the writer finished all its writes: the removal did not stop it (writes to a file where /dev/vda was?)"
log "ok: removed with I/O in flight after $acked acknowledged writes; writer and readers ended ($(json_value errors <del.json) in-band errors)"
want=$(printf 'BLK-%08d' $(seq 0 "$acked"))
got=$(dd if=b.img bs=4096 skip=256 count=$((acked + 1)) 2>/dev/null | tr -d '\0')
[[ $got == "$want" ]] || died "an acknowledged write is missing from the host file (want ${#want} bytes of tags, got ${#got})"
log "ok: all $((acked + 1)) acknowledged writes are on the host file"
guest "wait_gone b"
wait_for DEV_GONE_b= 30

gsis() { "$FRANCA_BIN" ctl api.sock status | json_value msi_gsis_in_use; }
fd0=$(fds) rss0=$(rss_kib) gsi0=$(gsis)
for ((i = 1; i <= CYCLES; i++)); do
  ctl device-add disk path=b.img,serial=hot1 >/dev/null
  guest "wait_dev c$i"
  wait_for "DEV_UP_c$i=" 60
  [[ $(value "DEV_UP_c$i") != never ]] || died "cycle $i: /dev/vda did not appear"
  ctl device-del blk0 >/dev/null
  guest "wait_gone c$i"
  wait_for "DEV_GONE_c$i=" 30
done
fd1=$(fds) rss1=$(rss_kib) gsi1=$(gsis)
log "after $CYCLES add/remove cycles: fds $fd0 -> $fd1, MSI GSIs $gsi0 -> $gsi1, VmRSS $rss0 -> $rss1 KiB"
expect_eq "$gsi1" "$gsi0" "no MSI route/GSI leaked over $CYCLES cycles"
ctl counters >counters.json
expect_eq "$fd1" "$fd0" "no fd leaked over $CYCLES cycles"
(( rss1 - rss0 < 8192 )) || died "VmRSS grew by $((rss1 - rss0)) KiB over $CYCLES cycles"
ctl shutdown >/dev/null
wait "$pid" || true
no_acpi_errors serial.log
log "PASS"
