# virtio-balloon on a 512 MiB guest, shared by cases/balloon_target_pci.sh and
# cases/balloon_reporting_mmio.sh (sourced with TRANSPORT=mmio|pci and
# MODE=target|reporting; either mode runs on either transport — CI runs one of
# each to save a nested boot per pair, and balloon_vhost covers reporting with
# stats_vq on pci). The guest runs commands the
# host sends on hvc0; the host measures franca's RssAnon (/proc/PID/status).
#  target:    --balloon stats_period=1. Fill 400 MiB of tmpfs and free it;
#             `balloon 128` -> the balloon holds ~384 MiB (actual), the guest's
#             MemTotal falls by as much, franca's RSS by >= 300 MiB; stats
#             arrive every second and match the guest's /proc/meminfo within
#             10%; `balloon 512` deflates and the guest fills 300 MiB again.
#  reporting: --balloon deflate_on_oom=on,free_page_reporting=on (mmio: also
#             features=-stats_vq, so the reporting queue is queue 2). Fill 400
#             MiB and free it: with no target, RSS falls by >= 300 MiB within
#             30 s. Then `balloon 128` and fill 300 MiB: the guest takes pages
#             back from the balloon instead of OOM-killing the writer, and
#             still answers afterwards.
: "${TRANSPORT:?}" "${MODE:?}"
NOMSI=0
source "$FRANCA_REPO/tests/integration/virtio/transport.sh"

case $MODE in
  target) opts="stats_period=1" ;;
  reporting) opts="deflate_on_oom=on,free_page_reporting=on"; [[ $TRANSPORT == mmio ]] && opts+=",features=-stats_vq" ;;
  *) fail "MODE=$MODE: expected target or reporting" ;;
esac

# The guest evaluates each line arriving on hvc0 (no echo, so the host's
# patterns only match what the commands print).
make_initramfs initrd.gz '
exec 0<>/dev/hvc0 1>&0 2>&0
stty -echo
mount -t tmpfs -o size=460M tmpfs /mnt
meminfo() { awk -v k="$1:" "\$1 == k { print \$2 }" /proc/meminfo; }
fill() { dd if=/dev/zero of=/mnt/fill bs=1M count=$1 2>/dev/null; echo "FILL_RC_$2=$?"; }
for d in /sys/bus/virtio/devices/*; do
  [ "$(cat $d/device)" = 0x0005 ] && echo BALLOON_FEATURES=$(cat $d/features)
done
'"$TRANSPORT_GUEST_REPORT"'
echo MEMTOTAL_BOOT=$(meminfo MemTotal)
echo BALLOON-READY
while read -r line; do eval "$line"; done' "$TRANSPORT_MODULES virtio_console virtio_balloon"

hvc_start --cmdline "console=ttyS0 panic=-1$TRANSPORT_CMDLINE" --console "stdio,transport=$TRANSPORT" \
  --balloon "$opts,transport=$TRANSPORT"
pid=$HVC_PID
trap 'kill $pid 2>/dev/null || true' EXIT
# ctl ARGS: franca ctl on this VM; a franca that is gone is reported with its log.
ctl() {
  local rc=0
  "$FRANCA_BIN" ctl api.sock "$@" || rc=$?
  ((rc == 0)) && return 0
  kill -0 "$pid" 2>/dev/null || died "franca exited (franca ctl $* failed with status $rc)"
  return "$rc"
}
rss_mib() { awk '/^RssAnon:/ { print int($2 / 1024) }' "/proc/$pid/status"; }
# until_actual OP MIB SECONDS: until the balloon's actual_mib OP MIB (-ge, -le).
until_actual() {
  local end=$((SECONDS + $3)) a
  while ((SECONDS < end)); do
    a=$(ctl balloon-stats | json_value actual_mib)
    [[ -n $a ]] && [ "$a" "$1" "$2" ] && { log "ok: balloon actual $a MiB ($1 $2) after $(( $3 - (end - SECONDS) )) s"; return 0; }
    sleep 1
  done
  died "balloon actual_mib ${a:-?} never $1 $2 within $3 s"
}

wait_for BALLOON-READY 240
features=$(value BALLOON_FEATURES)
log "balloon features as the guest negotiated them: $features"
rss0=$(rss_mib)
guest "fill 400 a"
wait_for FILL_RC_a= 300
expect_eq "$(value FILL_RC_a)" 0 "the guest filled 400 MiB of tmpfs"
rss1=$(rss_mib)
log "franca RssAnon: $rss0 MiB at boot, $rss1 MiB after the guest filled 400 MiB"
(( rss1 - rss0 >= 350 )) || died "RSS grew by $((rss1 - rss0)) MiB for a 400 MiB fill"
guest 'rm /mnt/fill; echo FREED=1'
wait_for FREED= 60
freed_at=$SECONDS

if [[ $MODE == target ]]; then
  expect_eq "${features:1:1}" 1 "stats_vq negotiated (bit 1)"
  ctl balloon 128 >/dev/null
  until_actual -ge 380 240
  rss2=$(rss_mib)
  log "franca RssAnon after balloon 128: $rss2 MiB (released $((rss1 - rss2)) MiB)"
  (( rss1 - rss2 >= 300 )) || died "RSS fell by only $((rss1 - rss2)) MiB with 384 MiB in the balloon"
  guest 'echo MEMTOTAL_INFLATED=$(meminfo MemTotal)'
  wait_for MEMTOTAL_INFLATED= 30
  boot_kb=$(value MEMTOTAL_BOOT) inflated_kb=$(value MEMTOTAL_INFLATED)
  (( boot_kb - inflated_kb >= 380 * 1024 )) || died "MemTotal $boot_kb -> $inflated_kb kB: did not follow the balloon"
  log "ok: guest MemTotal $boot_kb -> $inflated_kb kB"

  # Statistics every second, matching the guest's view.
  u1=$(ctl balloon-stats | json_value stats_updates)
  sleep 6
  guest 'echo MEMINFO_NOW=$(meminfo MemTotal)/$(meminfo MemFree)'
  wait_for MEMINFO_NOW= 30
  stats=$(ctl balloon-stats)
  u2=$(json_value stats_updates <<<"$stats")
  (( u2 - u1 >= 3 )) || died "stats updates $u1 -> $u2 in 6 s with stats_period=1: $stats"
  log "ok: $((u2 - u1)) stats updates in 6 s"
  age=$(json_value age_s <<<"$stats")
  (( age <= 2 )) || died "stats are ${age}s old with stats_period=1: $stats"
  now=$(value MEMINFO_NOW)
  within() {  # within NAME HOST_BYTES GUEST_KB
    local host=$(( $2 / 1024 )) gkb=$3
    (( host * 10 >= gkb * 9 && host * 10 <= gkb * 11 )) || died "stat $1 = $host kB, guest says $gkb kB: $stats"
    log "ok: stat $1 = $host kB, guest /proc/meminfo $gkb kB"
  }
  within total_memory "$(json_value total_memory <<<"$stats")" "${now%/*}"
  within free_memory "$(json_value free_memory <<<"$stats")" "${now#*/}"
  for s in swap_in swap_out major_faults minor_faults available_memory disk_caches; do
    [[ -n $(json_value "$s" <<<"$stats") ]] || died "stat $s missing: $stats"
  done

  ctl balloon 512 >/dev/null
  until_actual -le 0 240
  guest "fill 300 b"
  wait_for FILL_RC_b= 300
  expect_eq "$(value FILL_RC_b)" 0 "after deflating, the guest filled 300 MiB again"
  counters=$(ctl counters balloon0)
  (( $(json_value pages_inflated <<<"$counters") >= 380 * 256 )) || died "pages_inflated: $counters"
  (( $(json_value pages_deflated <<<"$counters") >= 380 * 256 )) || died "pages_deflated: $counters"
else
  expect_eq "${features:5:1}" 1 "reporting negotiated (bit 5)"
  expect_eq "${features:2:1}" 1 "deflate_on_oom negotiated (bit 2)"
  [[ $TRANSPORT != mmio ]] || expect_eq "${features:1:1}" 0 "stats_vq not negotiated (hidden): reporting is queue 2"
  # No target: the guest reports what it freed.
  while :; do
    rss2=$(rss_mib)
    (( rss1 - rss2 >= 300 )) && break
    (( SECONDS - freed_at <= 30 )) || died "RSS fell by only $((rss1 - rss2)) MiB within 30 s of the free (reporting)"
    sleep 0.5
  done
  log "ok: franca RssAnon $rss1 -> $rss2 MiB, $((SECONDS - freed_at)) s after the guest freed 400 MiB"
  counters=$(ctl counters balloon0)
  (( $(json_value pages_reported <<<"$counters") >= 300 * 256 )) || died "pages_reported: $counters"

  # Deflate on OOM: a writer that needs more than the balloon leaves.
  ctl balloon 128 >/dev/null
  until_actual -ge 380 240
  guest "fill 300 c"
  wait_for FILL_RC_c= 400
  expect_eq "$(value FILL_RC_c)" 0 "with 384 MiB in the balloon, the guest still filled 300 MiB (deflate on OOM)"
  guest 'echo OOM_KILLS=$(dmesg | grep -c "Killed process")'
  wait_for OOM_KILLS= 30
  expect_eq "$(value OOM_KILLS)" 0 "processes the guest's OOM killer killed"
  actual=$(ctl balloon-stats | json_value actual_mib)
  (( actual <= 384 - 150 )) || died "balloon actual $actual MiB: the guest did not take pages back"
  log "ok: the balloon gave back $((384 - actual)) MiB under memory pressure"
fi

counters=$(ctl counters balloon0)
log "balloon0 counters: $counters"
expect_eq "$(json_value ring_errors <<<"$counters")" 0 "balloon ring errors"
expect_eq "$(json_value release_failures <<<"$counters")" 0 "balloon release failures"
guest 'echo ALIVE=$((6 * 7))'
wait_for ALIVE= 30
guest 'poweroff -f'
rc=0; wait "$pid" || rc=$?
trap - EXIT
expect_eq "$rc" 0 "exit status after poweroff"
check_transport console.log "0x1043 0x1045" 2
