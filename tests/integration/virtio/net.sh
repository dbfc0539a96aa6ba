# virtio-net, shared by cases/net_*.sh (sourced after lib.sh, with TRANSPORT=pci|mmio).
# Every case runs in a network namespace of its own (the script re-executes
# itself under `unshare --net`), so its TAP and 10.0.2.0/24 never meet the
# host's networks or another case. The pieces:
#  - net_setup_tap [multi_queue]: TAP $NET_TAP (vnet_hdr), 10.0.2.1/24, up;
#    deleted on exit with every background process the case started;
#  - net_make_initrd BODY: the guest's /init loads virtio_pci, virtio_mmio and
#    virtio_net, brings eth0 up as 10.0.2.15/24, reports MAC, queues and
#    transport, pings 10.0.2.1 (PING=ok), prints NET_UP, runs BODY, prints
#    eth0's rx_length_errors (NET_RX_LENGTH_ERRORS: a receive buffer the
#    driver found short or a merged frame with buffers missing), prints
#    NET_DONE and powers off once the host releases it (net_finish connects to
#    10.0.2.1:5999), so the host can query the running VMM (franca ctl) after
#    the guest's work. The image without BODY is built once and cached in
#    $FRANCA_CACHE/net (mkinitramfs takes ~20 s under nested KVM); BODY is
#    appended as a second cpio archive;
#  - transfers: franca-nettool (tests/support/nettool.cc) at both ends of one TCP
#    connection, each sending NET_BYTES (64 MiB) of a seeded stream while it
#    checks every byte it receives against the seed the peer sent;
#    net_check_transfer compares what each end reports;
#  - net_start NETSPEC [franca args]: franca, 512M, --api-socket $NET_API,
#    --net NETSPEC, in the background; net_wait PATTERN; net_ctl; net_finish.
# Guest and host ends print KEY=value lines; net_values reads them into NV.
# FRANCA_NET_TEST_VMM=qemu boots the same guests on QEMU instead (vhost=off|on,
# q35 virtio-net-pci or microvm virtio-net-device) to check the test itself;
# what needs `franca ctl` is then skipped (FRANCA_NET_QEMU_CPU: QEMU's -cpu,
# default host).
# NET_WIRE (set by the case before sourcing this): a host NIC taken into the
# case's namespace as its host end instead of a TAP (the VFIO cases: L1's
# wire0, on one QEMU hub with the passed-through e1000e); it goes back to the
# host's namespace when the case ends.
if [[ -z ${FRANCA_NET_NETNS:-} ]]; then
  [[ -n ${NET_WIRE:-} ]] || FRANCA_NET_NETNS=1 exec unshare --net -- bash "$0" "$@"
  [[ -e /sys/class/net/$NET_WIRE ]] || fail "no host NIC $NET_WIRE for this case"
  FRANCA_NET_NETNS=1 unshare --net -- bash "$0" "$@" &
  ns_pid=$!
  for ((i = 0; i < 100; i++)); do  # until unshare(2) has run in the child
    [[ $(readlink "/proc/$ns_pid/ns/net") == "$(readlink /proc/self/ns/net)" ]] || break
    sleep 0.05
  done
  PATH=$PATH:/usr/sbin:/sbin ip link set "$NET_WIRE" netns "$ns_pid" || { kill "$ns_pid"; fail "cannot move $NET_WIRE"; }
  rc=0 && wait "$ns_pid" || rc=$?
  exit "$rc"
fi
PATH=$PATH:/usr/sbin:/sbin
ip link set lo up
: "${TRANSPORT:=pci}"
NOMSI=0
source "$FRANCA_REPO/tests/integration/virtio/transport.sh"
: "${FRANCA_NETTOOL:=$(dirname "$FRANCA_BIN")/../tests/support/franca-nettool}"
[[ -x $FRANCA_NETTOOL ]] || fail "no franca-nettool at $FRANCA_NETTOOL (built with the tests; set FRANCA_NETTOOL)"
NET_VMM=${FRANCA_NET_TEST_VMM:-franca}
NET_CASE=$(basename "$0" .sh)
NET_TAP=t-${NET_CASE#net_}
NET_TAP=${NET_TAP:0:15}
NET_HOST_IP=10.0.2.1 NET_GUEST_IP=10.0.2.15 NET_MAC=52:54:00:12:34:56
NET_BYTES=$((64 << 20))
NET_API=$FRANCA_WORK/api.sock
NET_CMDLINE="console=ttyS0 panic=-1 quiet"
NET_PIDS=() NET_VMM_PID="" NET_TAP_MADE=""
declare -A NV=() NET_LISTENER=()

net_cleanup() {
  local p
  for p in "${NET_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -z $NET_TAP_MADE ]] || ip link del "$NET_TAP_MADE" 2>/dev/null || true
  [[ -z ${NET_WIRE:-} ]] || { ip addr flush dev "$NET_WIRE"; ip link set "$NET_WIRE" netns 1; } 2>/dev/null || true
}
trap net_cleanup EXIT
trap 'exit 143' TERM INT
[[ -p $FRANCA_WORK/sleep.fifo ]] || mkfifo "$FRANCA_WORK/sleep.fifo"
exec {NET_SLEEP_FD}<>"$FRANCA_WORK/sleep.fifo"  # read and written by nobody: read -t times out
net_sleep() { read -rt "$1" -u "$NET_SLEEP_FD" || true; }  # a sleep without a fork

# net_host_addr: the host end of the guest network on $NET_TAP.
net_host_addr() {
  ip addr add "$NET_HOST_IP/24" dev "$NET_TAP"
  ip link set "$NET_TAP" up
}

# net_wait_wire: until $NET_WIRE is in this namespace (the parent moves it in).
net_wait_wire() {
  local i
  for ((i = 0; i < 100; i++)); do ip link show dev "$NET_WIRE" >/dev/null 2>&1 && return 0; net_sleep 0.1; done
  fail "$NET_WIRE did not arrive in the case's namespace"
}

# net_setup_wire: $NET_WIRE (already in this namespace) as the host end, addressed.
net_setup_wire() {
  net_wait_wire
  NET_TAP=$NET_WIRE
  net_host_addr
  log "host NIC $NET_WIRE with $NET_HOST_IP/24"
}

# net_setup_tap [multi_queue]: creates $NET_TAP (vnet_hdr) and addresses it.
net_setup_tap() {
  ip tuntap add dev "$NET_TAP" mode tap vnet_hdr "$@"
  NET_TAP_MADE=$NET_TAP
  net_host_addr
  log "TAP $NET_TAP (vnet_hdr${*:+ $*}) with $NET_HOST_IP/24"
}

# net_make_initrd BODY: initrd.gz = the cached base image + BODY as /net-body.sh.
# NET_EXTRA_MODULES and NET_EXTRA_FILES (SRC:DEST ...) add to the base image.
net_make_initrd() {
  local init=$FRANCA_WORK/net-init.sh dir=$FRANCA_CACHE/net key base f extra=()
  for f in ${NET_EXTRA_FILES:-}; do extra+=(-f "$f"); done
  {
    echo '#!/bin/sh'
    echo 'mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs dev /dev 2>/dev/null'
    echo '/bin/load-modules'
    echo 'echo FRANCA_GUEST_UP'
    echo 'ip link set lo up'
    echo 'i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done'
    # A standby (VIRTIO_NET_F_STANDBY, bit 62 of the virtio features) is enslaved
    # to a net_failover master at once: the master ($IF) carries the address.
    echo 'IF=eth0'
    echo 'if [ "$(cut -c63 /sys/class/net/eth0/device/features 2>/dev/null)" = 1 ]; then'
    echo '  i=0; while [ ! -e /sys/class/net/eth0/master ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done'
    echo '  [ ! -e /sys/class/net/eth0/master ] || IF=$(basename $(readlink /sys/class/net/eth0/master))'
    echo 'fi'
    echo 'echo NET_IF=$IF'
    echo "ip addr add $NET_GUEST_IP/24 dev \$IF && ip link set \$IF up || echo NET_SETUP=failed"
    echo 'i=0; while [ "$(cat /sys/class/net/$IF/carrier 2>/dev/null)" != 1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done'
    echo 'echo NET_CARRIER=$(cat /sys/class/net/$IF/carrier 2>/dev/null)'  # a real NIC needs a moment after up
    echo 'echo NET_MAC=$(cat /sys/class/net/$IF/address)'
    echo 'echo NET_QUEUES=$(ls /sys/class/net/$IF/queues | xargs)'
    printf '%s\n' "$TRANSPORT_GUEST_REPORT"
    # (three tries: a failover primary may be joining the master meanwhile, and busybox's ping gives up early)
    echo "t=0; while [ \$t -lt 3 ] && ! ping -c 2 -w 20 $NET_HOST_IP >/tmp/ping 2>&1; do t=\$((t + 1)); done"
    echo 'if [ $t -lt 3 ]; then echo PING=ok; else echo PING=failed; cat /tmp/ping; fi; echo PING_RETRIES=$t'
    echo 'echo NET_UP'
    echo '. /net-body.sh'
    echo 'echo NET_RX_LENGTH_ERRORS=$(cat /sys/class/net/$IF/statistics/rx_length_errors)'
    echo 'echo NET_DONE'
    echo "nettool connect -t 900 -r 900 -l RELEASE $NET_HOST_IP 5999 >/dev/null 2>&1"
    echo 'poweroff -f'
  } >"$init"
  key=$({ cat "$init" "$FRANCA_NETTOOL" "$FRANCA_REPO/tests/guest/mkinitramfs.sh" "$FRANCA_CACHE/kernel/version"
          echo "${NET_EXTRA_MODULES:-} ${NET_EXTRA_FILES:-}"
          for f in ${NET_EXTRA_FILES:-}; do cat "${f%%:*}"; done; } | cksum)
  mkdir -p "$dir" 2>/dev/null && [[ -w $dir ]] || dir=$FRANCA_WORK
  base=$dir/initrd-${key%% *}.gz
  if [[ ! -f $base ]]; then
    log "building the net guest image $base"
    "$FRANCA_REPO/tests/guest/mkinitramfs.sh" -o "$base" -i "$init" -f "$FRANCA_NETTOOL:/bin/nettool" \
      "${extra[@]}" -m "virtio_pci virtio_mmio failover net_failover virtio_net ${NET_EXTRA_MODULES:-}"
  fi
  mkdir -p body
  printf '%s\n' "$1" >body/net-body.sh
  {
    cat "$base"
    head -c $(((4 - $(stat -c %s "$base") % 4) % 4)) /dev/zero  # newc headers are 4-aligned
    (cd body && echo net-body.sh | cpio -o -H newc -R 0:0 --quiet)
  } >initrd.gz
}

# net_guest_transfer [nettool args]: the guest end of the standard transfer,
# label G (host end: net_listen H 5001 -n $NET_BYTES).
net_guest_transfer() {
  echo "nettool connect -n $NET_BYTES -l G -t 400 -r 30 $* $NET_HOST_IP 5001; echo G_RC=\$?"
}

# net_start NETSPEC [franca args]: boots initrd.gz in the background (serial.log,
# franca.err); NETSPEC is the --net value (empty: no virtio NIC).
net_start() {
  local spec=$1
  shift
  : >serial.log
  if [[ $NET_VMM == qemu ]]; then
    net_start_qemu "$spec" "$@"
  else
    log "franca ${spec:+--net $spec }$*"
    "$FRANCA_BIN" --kernel "$KERNEL" --initrd initrd.gz --memory 512M --serial file:serial.log \
      --cmdline "$NET_CMDLINE" --timeout 500 --log-level info --api-socket "$NET_API" \
      ${spec:+--net "$spec"} "$@" 2>franca.err &
  fi
  NET_VMM_PID=$!
  NET_PIDS+=("$NET_VMM_PID")
}

# net_start_qemu NETSPEC [--cpus N]: the same guest on QEMU (see the header).
net_start_qemu() {
  local spec=,$1, cpus=1 vhost=off queues=1 machine=q35 dev=virtio-net-pci,disable-legacy=on mq=""
  [[ ${2:-} != --cpus ]] || cpus=$3
  [[ $spec != *,backend=vhost,* ]] || vhost=on
  [[ $spec != *,transport=mmio,* ]] || machine=microvm dev=virtio-net-device
  [[ ! $spec =~ ,queues=([0-9]+), ]] || queues=${BASH_REMATCH[1]}
  ((queues == 1)) || mq=",mq=on,vectors=$((2 * queues + 2))"
  log "QEMU -M $machine $dev vhost=$vhost queues=$queues"
  timeout -k 5 500 qemu-system-x86_64 -accel kvm -cpu "${FRANCA_NET_QEMU_CPU:-host}" -M "$machine" -m 512 \
    -smp "$cpus" -nodefaults -no-user-config -display none -no-reboot -kernel "$KERNEL" -initrd initrd.gz \
    -append "$NET_CMDLINE" -serial file:serial.log \
    -netdev "tap,id=n0,ifname=$NET_TAP,script=no,downscript=no,vhost=$vhost,queues=$queues" \
    -device "$dev,netdev=n0,mac=$NET_MAC$mq" 2>franca.err &
}

net_dump() {
  echo "--- VMM stderr (franca.err) ---" >&2
  tail -n 40 franca.err >&2 || true
  echo "--- guest serial log ---" >&2
  tail -n 60 serial.log >&2 || true
}

# net_wait PATTERN [SECONDS]: until the guest printed PATTERN (fails if the VMM exits first).
net_wait() {
  local i rc=0
  for ((i = 0; i < ${2:-300} * 2; i++)); do
    grep -aq -- "$1" serial.log && return 0
    if ! kill -0 "$NET_VMM_PID" 2>/dev/null; then
      wait "$NET_VMM_PID" || rc=$?
      net_dump
      fail "the VMM exited (status $rc) before the guest printed '$1'"
    fi
    net_sleep 0.5
  done
  net_dump
  fail "the guest did not print '$1' within ${2:-300}s"
}

# net_ctl ARGS...: `franca ctl $NET_API ARGS`; prints the JSON, fails unless it says ok.
net_ctl() {
  local out rc=0
  [[ $NET_VMM == franca ]] || fail "franca ctl $*: this case needs franca"
  out=$("$FRANCA_BIN" ctl "$NET_API" "$@" 2>&1) || rc=$?
  log "ctl $*: $out" >&2
  [[ $rc == 0 ]] || { net_dump; fail "franca ctl $* exited with status $rc: $out"; }
  printf '%s\n' "$out"
}
net_is_franca() { [[ $NET_VMM == franca ]] || { log "skipped on $NET_VMM: $*"; return 1; }; }
# net_counters_positive JSON NAME...: every counter NAME is > 0.
net_counters_positive() {
  local json=$1 c v
  shift
  for c; do
    v=$(json_value "$c" <<<"$json")
    ((${v:-0} > 0)) || fail "counter $c is '${v}', expected > 0: $json"
  done
  log "ok: counters > 0: $*"
}

# net_listen LABEL PORT [nettool args]: a host end, in the background (LABEL.out, LABEL.err).
net_listen() {
  local label=$1 port=$2
  shift 2
  : >"$label.out" && : >"$label.err"  # before the fork: callers poll them at once
  "$FRANCA_NETTOOL" listen -a "$NET_HOST_IP" -l "$label" -t 480 "$@" "$port" >"$label.out" 2>"$label.err" &
  NET_LISTENER[$label]=$!
  NET_PIDS+=($!)
}

# net_values FILE...: reads their KEY=value lines into NV (the last one wins).
net_values() {
  local f line
  for f; do
    while IFS= read -r line || [[ -n $line ]]; do
      line=${line%$'\r'}
      [[ ! $line =~ ^([A-Z][A-Z0-9_]*)=(.*)$ ]] || NV[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
    done <"$f"
  done
}
# net_expect KEY WANT WHAT: the value the guest or a host end printed for KEY.
net_expect() { expect_eq "${NV[$1]-<none>}" "$2" "$3"; }

# net_check_transfer HOST_LABEL GUEST_LABEL BYTES: each end sent BYTES and
# received exactly the stream the other sent (same seed, no wrong byte).
net_check_transfer() {
  local h=$1 g=$2 bytes=$3
  wait "${NET_LISTENER[$h]}" || true
  cat "$h.out" "$h.err" >&2
  net_values serial.log "$h.out"
  [[ -n ${NV[${g}_SENT]:-} ]] || { net_dump; fail "the guest reported no transfer $g"; }
  net_expect "${g}_SENT" "$bytes" "$g: bytes the guest sent"
  net_expect "${h}_RECEIVED" "$bytes" "$h: bytes the host received"
  net_expect "${h}_RECEIVED_SEED" "${NV[${g}_SENT_SEED]}" "$h: seed of the guest's stream"
  net_expect "${h}_RECEIVED_BAD" -1 "$h: first wrong byte guest->host (-1: none)"
  net_expect "${h}_SENT" "$bytes" "$h: bytes the host sent"
  net_expect "${g}_RECEIVED" "$bytes" "$g: bytes the guest received"
  net_expect "${g}_RECEIVED_SEED" "${NV[${h}_SENT_SEED]}" "$g: seed of the host's stream"
  net_expect "${g}_RECEIVED_BAD" -1 "$g: first wrong byte host->guest (-1: none)"
  log "transfer $g: ${NV[${g}_SECONDS]} s, ${NV[${g}_MBITS]} Mbit/s both ways together (guest clock)"
}

# net_check_guest [WHY]: the guest brought eth0 up with our MAC, pinged the
# host, and after BODY (the transfers) its driver had counted no receive length
# errors (WHY: the reason a non-virtio NIC's count says nothing about franca).
net_check_guest() {
  net_values serial.log
  net_expect NET_MAC "$NET_MAC" "guest eth0 MAC"
  [[ ${NV[PING]-} == ok ]] || net_dump
  net_expect PING ok "guest pings $NET_HOST_IP"
  if [[ -z ${1:-} ]]; then
    net_expect NET_RX_LENGTH_ERRORS 0 "guest eth0 rx_length_errors after the transfers"
  else
    log "not checked: eth0 rx_length_errors = ${NV[NET_RX_LENGTH_ERRORS]-} ($1)"
  fi
}

# net_finish: releases the guest, waits (60 s at most) for the VMM; asserts exit 0.
net_finish() {
  local i rc=0
  "$FRANCA_NETTOOL" listen -a "$NET_HOST_IP" -l RELEASE -t 60 5999 >/dev/null 2>&1 ||
    { net_dump; fail "the guest did not ask to be released"; }
  for ((i = 0; i < 120; i++)); do
    kill -0 "$NET_VMM_PID" 2>/dev/null || break
    net_sleep 0.5
  done
  ! kill -0 "$NET_VMM_PID" 2>/dev/null || { net_dump; fail "the VMM did not exit after the guest's poweroff"; }
  wait "$NET_VMM_PID" || rc=$?
  cat franca.err >&2
  expect_eq "$rc" 0 "VMM exit status"
}

# net_transfer_case BACKEND: ping and NET_BYTES each way at once over TRANSPORT
# with BACKEND; franca's status names BACKEND and, in process, rx0/tx0 count
# packets; the guest sees one virtio-net function (pci) or none (mmio).
net_transfer_case() {
  local backend=$1 status
  net_setup_tap
  net_make_initrd "$(net_guest_transfer)"
  net_listen H 5001 -n "$NET_BYTES"
  net_start "tap=$NET_TAP,mac=$NET_MAC,backend=$backend,transport=$TRANSPORT"
  net_wait NET_DONE 480
  if net_is_franca "franca ctl status/counters"; then
    status=$(net_ctl status)
    expect_eq "$(json_value backend <<<"$status")" "$backend" "backend in franca ctl status"
    [[ $backend != inprocess ]] ||
      net_counters_positive "$(net_ctl counters net0)" rx0_packets tx0_packets rx0_bytes tx0_bytes
    if [[ $backend == vhost ]]; then
      # pci (MSI-X): both queues' calls go to KVM's irqfds; mmio: franca relays them.
      local counters
      counters=$(net_ctl counters net0)
      if [[ $TRANSPORT == pci ]]; then
        expect_eq "$(json_value vhost_direct_queues <<<"$counters")" 2 "vhost queues signalling KVM directly"
      else
        expect_eq "$(json_value vhost_direct_queues <<<"$counters")" 0 "vhost queues signalling KVM directly (mmio)"
        net_counters_positive "$counters" vhost_calls
      fi
    fi
  fi
  net_finish
  net_check_guest
  net_check_transfer H G "$NET_BYTES"
  check_transport serial.log 0x1041 1
}
