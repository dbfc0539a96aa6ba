# Soak: everything at once on a 2-vCPU guest, for a fixed amount of work (never
# a time): two disks (pci with queues=2, and mmio), each with two fsync writers
# (franca-blktool: O_DIRECT 4 KiB writes, fsync after each); 64 MiB each way over
# virtio-net while the host moves net0 in-process -> vhost -> in-process; and
# numbered lines written to the virtio console. Asserts that every writer
# finished, every acknowledged write is on its host image, every network byte
# arrived intact, every console line arrived in order, the switches happened
# and no device needed a reset or stalled (StallWatch: no queue waited 20 s
# without progress). A longer run: bench/soak. See virtio/net.sh.
source "$FRANCA_REPO/tests/integration/lib.sh"
TRANSPORT=pci
: "${FRANCA_BLKTOOL:=$(dirname "$FRANCA_BIN")/../tests/support/franca-blktool}"
[[ -x $FRANCA_BLKTOOL ]] || fail "no franca-blktool at $FRANCA_BLKTOOL (built with the tests)"
NET_EXTRA_MODULES="virtio_blk virtio_console" NET_EXTRA_FILES="$FRANCA_BLKTOOL:/bin/blktool"
source "$FRANCA_REPO/tests/integration/virtio/net.sh"
gv() { guest_value serial.log "$1" || true; }  # a missing line is reported by expect_eq
writes=${SOAK_WRITES:-400} lines=${SOAK_LINES:-2000} ring=64

truncate -s 4M disk0.img disk1.img
net_setup_tap
net_make_initrd "
for b in /sys/block/vd*; do
  s=\$(cat \$b/serial)
  blktool write -w 0 -b 0 -r $ring -n $writes -e 20 -l \${s}_W0 /dev/\${b##*/} &
  blktool write -w 1 -b $ring -r $ring -n $writes -e 20 -l \${s}_W1 /dev/\${b##*/} &
done
i=0; while [ \$i -lt 50 ] && [ ! -e /dev/hvc0 ]; do sleep 0.1; i=\$((i + 1)); done
( i=1; while [ \$i -le $lines ]; do echo \"soak line \$i\"; i=\$((i + 1)); done >/dev/hvc0; echo CONSOLE_DONE=1 ) &
$(net_guest_transfer -w 12)
wait
echo WRITERS_DONE=1"
net_listen H 5001 -n "$NET_BYTES" -w 12 -p
net_start "tap=$NET_TAP,mac=$NET_MAC,backend=inprocess,features=-ring_packed" --cpus 2 \
  --disk path=disk0.img,serial=d0,queues=2 --disk path=disk1.img,serial=d1,transport=mmio --console file:console.log
# switch_at MIB BACKEND: once the host received MIB MiB (progress every 8 MiB).
switch_at() {
  local i
  for ((i = 0; i < 1200; i++)); do
    (($(grep -c 'progress received=' H.err) * 8 >= $1)) && break
    [[ ! -s H.out ]] || { log "the transfer ended before the switch to $2"; break; }
    kill -0 "$NET_VMM_PID" 2>/dev/null || { net_dump; fail "franca exited before the switch to $2"; }
    net_sleep 0.5
  done
  net_ctl net-backend net0 "$2" >/dev/null
  log "switched net0 to $2 after $1 MiB guest->host"
}
switch_at 16 vhost
# Mid-run, the control socket shows each queue's ring state (read on vmm-io).
queues=$(net_ctl queues blk0)
for q in 0 1; do
  grep -q "queue $q (requests): " <<<"$queues" || fail "franca ctl queues blk0 does not describe queue $q: $queues"
done
log "ok: queues blk0 describes both request queues"
switch_at 40 inprocess
net_wait NET_DONE 500
counters=$(net_ctl counters)
net_finish
net_check_guest
net_check_transfer H G "$NET_BYTES"
switches=$(json_value backend_switches <<<"$counters")
((${switches:-0} >= 2)) || fail "backend_switches is '$switches', expected >= 2: $counters"
log "ok: backend_switches = $switches"
grep -q '"ring_errors": *[1-9]' <<<"$counters" && fail "a device needed a reset: $counters"
grep -q '"stalls": *[1-9]' <<<"$counters" && fail "a queue's driver waited without progress (StallWatch): $counters"
expect_eq "$(gv WRITERS_DONE)" 1 "every guest writer ended"
for d in 0 1; do
  for w in 0 1; do
    expect_eq "$(gv "d${d}_W${w}_DONE")" "$writes" "disk$d writer $w finished"
    expect_eq "$("$FRANCA_BLKTOOL" verify -w $w -b $((w * ring)) -r $ring -n "$writes" disk$d.img)" \
      "VERIFY_OK=$writes" "disk$d writer $w: every acknowledged write on disk$d.img"
  done
done
expect_eq "$(gv CONSOLE_DONE)" 1 "console writer finished"
tr -d '\r' <console.log >console.txt
expect_eq "$(grep -c '^soak line ' console.txt)" "$lines" "console lines received"
expect_eq "$(awk '/^soak line / { if ($3 != ++n) { print "line " n " is " $0; bad = 1; exit } } END { if (!bad) print "in order" }' \
  console.txt | tail -n 1)" "in order" "console lines in order"
