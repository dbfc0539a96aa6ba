#!/usr/bin/env bash
# Builds a gzip'd newc initramfs for a test guest (L2) or the nested host (L1).
#
# usage: tests/guest/mkinitramfs.sh -o OUT.cpio.gz -i INIT_SCRIPT
#          [-m "mod1 mod2 ..."] [-f SRC:DEST ...] [-k MODULES_DIR]
#   -o  output file (gzip'd newc cpio)
#   -i  script installed as /init (made executable); it runs under busybox sh
#   -m  kernel modules by name (kvm-amd == kvm_amd). Their dependencies (from
#       modules.dep) are added first automatically. Modules are decompressed
#       (.ko.xz/.ko.zst/.ko.gz) into /lib/modules/ and /etc/modules lists them in
#       load order; the init script loads them with `/bin/load-modules`.
#       Modules built into the kernel (modules.builtin) are skipped with a note;
#       unknown names are an error.
#   -f  extra file or directory SRC copied to DEST in the image (repeatable)
#   -k  kernel modules dir; default ${FRANCA_CACHE:-<repo>/build/cache}/kernel/modules
#       as laid out by scripts/fetch-kernel.sh
# The image has busybox (from busybox-static, or $BUSYBOX) at /bin/busybox with
# a symlink for every applet, so /init can use `mount`, `insmod`, `poweroff` ...
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
usage() { sed -n '3,18p' "$0" >&2; exit 2; }

out="" init="" modules="" extras=()
moddir=${FRANCA_CACHE:-$repo/build/cache}/kernel/modules
while getopts "o:i:m:f:k:h" opt; do
  case $opt in
    o) out=$OPTARG ;; i) init=$OPTARG ;; m) modules+=" $OPTARG" ;;
    f) extras+=("$OPTARG") ;; k) moddir=$OPTARG ;; *) usage ;;
  esac
done
[[ -n $out && -n $init && $OPTIND -gt $# ]] || usage
[[ -f $init ]] || { echo "mkinitramfs: no init script $init" >&2; exit 1; }
busybox=${BUSYBOX:-$(command -v busybox || true)}
[[ -x $busybox ]] || { echo "mkinitramfs: busybox not found (apt-get install busybox-static)" >&2; exit 1; }

stage=$(mktemp -d "${TMPDIR:-/tmp}/mkinitramfs.XXXXXX")
trap 'rm -rf "$stage" "$out.tmp.$$"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,mnt,root,etc,lib/modules}
cp "$busybox" "$stage/bin/busybox"
rm -f "$stage/init"  # never write through an applet symlink
cp "$init" "$stage/init"
chmod 755 "$stage/init"

# --- kernel modules ---------------------------------------------------------
: >"$stage/etc/modules"
if [[ -n ${modules// /} ]]; then
  moddir=${moddir%/}/
  [[ -f $moddir/modules.dep ]] || { echo "mkinitramfs: no $moddir/modules.dep (run scripts/fetch-kernel.sh)" >&2; exit 1; }
  declare -A path deps added builtin
  norm() { N=${1##*/}; N=${N%%.ko*}; N=${N//-/_}; }  # sets N (no fork: fast)
  while IFS=: read -r file rest; do
    norm "$file"; path[$N]=$file; deps[$N]=$rest
  done <"$moddir/modules.dep"
  while read -r file; do norm "$file"; builtin[$N]=1; done <"$moddir/modules.builtin"
  order=()
  add() {  # add NAME after its dependencies (modules.dep lists them last-first)
    local n d list=()
    norm "$1"; n=$N
    [[ -z ${added[$n]:-} ]] || return 0
    if [[ -z ${path[$n]:-} ]]; then
      if [[ -n ${builtin[$n]:-} ]]; then echo "mkinitramfs: note: $1 is built into the kernel" >&2; added[$n]=1; return 0; fi
      echo "mkinitramfs: module $1 not found in $moddir" >&2; exit 1
    fi
    for d in ${deps[$n]}; do list=("$d" "${list[@]}"); done
    for d in "${list[@]}"; do add "$d"; done
    added[$n]=1; order+=("$n")
  }
  for m in $modules; do add "$m"; done
  for n in "${order[@]}"; do
    src=$moddir${path[$n]}
    case $src in
      *.ko.xz) xz -dc "$src" ;; *.ko.zst) zstd -qdc "$src" ;; *.ko.gz) gzip -dc "$src" ;;
      *) cat "$src" ;;
    esac >"$stage/lib/modules/$n.ko"
    echo "$n.ko" >>"$stage/etc/modules"
  done
fi
cat >"$stage/bin/load-modules" <<'EOF'
#!/bin/sh
# Loads /etc/modules in order (busybox insmod: no modules.dep needed).
for m in $(cat /etc/modules); do
  insmod "/lib/modules/$m" || echo "load-modules: insmod $m failed" >&2
done
EOF
chmod 755 "$stage/bin/load-modules"

# --- extra files --------------------------------------------------------------
for e in "${extras[@]}"; do
  src=${e%%:*} dest=${e#*:}
  [[ $src != "$e" && -e $src ]] || { echo "mkinitramfs: bad -f $e (want SRC:DEST)" >&2; exit 1; }
  mkdir -p "$stage/$(dirname "$dest")"
  [[ ! -L $stage/$dest ]] || rm -f "$stage/$dest"  # replace an applet, not busybox
  cp -a "$src" "$stage/$dest"
done

# --- archive ------------------------------------------------------------------
# A first, hand-written newc archive holds /dev/console (mknod needs root) and
# one symlink per busybox applet (one `ln` fork each would take ~1 s); cpio then
# appends the staged tree as a second archive. The kernel unpacks both in turn.
ino=0
entry() {  # entry NAME MODE DATA: one newc record (c_mode in octal, DATA inline)
  local z=('' '\0' '\0\0' '\0\0\0') rdev=0
  [[ $2 == 020* ]] && rdev=1  # /dev/console is char 5:1
  printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\0' \
    $((++ino)) $((8#$2)) 0 0 1 0 ${#3} 0 0 $((rdev * 5)) $rdev $((${#1} + 1)) 0 "$1"
  printf "${z[(4 - (110 + ${#1} + 1) % 4) % 4]}%s${z[(4 - ${#3} % 4) % 4]}" "$3"
}
mkdir -p "$(dirname "$out")"
{
  entry dev 040755 ""
  entry dev/console 020600 ""
  for d in bin sbin usr usr/bin usr/sbin; do entry "$d" 040755 ""; done
  for applet in $("$busybox" --list-full); do
    [[ -e $stage/$applet ]] || entry "$applet" 0120777 /bin/busybox
  done
  entry TRAILER!!! 0 ""
  (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet)
} | gzip -4 >"$out.tmp.$$"
mv "$out.tmp.$$" "$out"  # atomic: concurrent builders never see half a file
