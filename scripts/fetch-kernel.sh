#!/usr/bin/env bash
# Fetches the stock Debian kernel (the versioned package linux-image-amd64
# depends on) WITHOUT installing it: `apt-get download` + `dpkg -x` into a cache.
#
# usage: scripts/fetch-kernel.sh [CACHE_DIR]
#   CACHE_DIR defaults to ${FRANCA_CACHE:-<repo>/build/cache}/kernel
#
# Resulting stable layout (idempotent: nothing is done when it already exists):
#   CACHE_DIR/vmlinuz   -> pkg/boot/vmlinuz-<version>
#   CACHE_DIR/config    -> pkg/boot/config-<version>
#   CACHE_DIR/modules   -> pkg/lib/modules/<version>   (with modules.dep, via depmod)
#   CACHE_DIR/version      the kernel release string, e.g. 6.1.0-56-amd64
# The path of CACHE_DIR is printed on stdout.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-${FRANCA_CACHE:-$repo/build/cache}/kernel}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

if [[ -e $dir/vmlinuz && -e $dir/config && -e $dir/modules/modules.dep && -s $dir/version ]]; then
  echo "$dir"
  exit 0
fi

sudo=""
[[ $(id -u) -eq 0 ]] || sudo=sudo

# The versioned image package, e.g. linux-image-6.1.0-56-amd64. Refresh the
# apt lists once if apt does not know the meta package yet.
find_pkg() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1
}
pkg=$(find_pkg)
if [[ -z $pkg ]]; then
  echo "fetch-kernel: apt does not know linux-image-amd64; running apt-get update" >&2
  $sudo apt-get update -qq
  pkg=$(find_pkg)
fi
[[ -n $pkg ]] || { echo "fetch-kernel: cannot resolve linux-image-amd64" >&2; exit 1; }

# apt-get download as root drops to user _apt; give it a writable scratch dir
# so it does not warn about an unsandboxed download.
dl=$(mktemp -d "$dir/download.XXXXXX")
trap 'rm -rf "$dl"' EXIT
chmod 777 "$dl"
echo "fetch-kernel: downloading $pkg" >&2
(cd "$dl" && apt-get download -q "$pkg" >&2)
deb=$(ls "$dl"/*.deb)

rm -rf "$dir/pkg"
dpkg -x "$deb" "$dir/pkg"
rm -f "$dir"/*.deb  # not kept: the extracted tree is all we need

vmlinuz=$(ls "$dir"/pkg/boot/vmlinuz-* | head -n 1)
version=${vmlinuz##*/vmlinuz-}
[[ -d $dir/pkg/lib/modules/$version ]] || { echo "fetch-kernel: no modules for $version" >&2; exit 1; }

# The package does not ship modules.dep (its postinst runs depmod); generate it.
depmod=$(command -v depmod || echo /usr/sbin/depmod)  # /usr/sbin may not be on PATH
"$depmod" -b "$dir/pkg" "$version"

ln -sfn "pkg/boot/vmlinuz-$version" "$dir/vmlinuz"
ln -sfn "pkg/boot/config-$version" "$dir/config"
ln -sfn "pkg/lib/modules/$version" "$dir/modules"
echo "$version" >"$dir/version"
echo "fetch-kernel: kernel $version ready in $dir" >&2
echo "$dir"
