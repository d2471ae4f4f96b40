#!/usr/bin/env bash
# Build a PioT test VM disk image laid out like Raspberry Pi OS Lite:
# an MBR disk (disk identifier 0x5049f700) with
#   1: FAT32 "bootfs" (256 MiB from sector 8192), mounted at /boot/firmware,
#      holding cmdline.txt, config.txt, vmlinuz and initrd.img
#   2: ext4 "rootfs" (the rest), a Debian made by debootstrap
# No loop devices and no mounts of the image: the file systems are made from
# directories (mkfs.ext4 -d, mkfs.vfat + mcopy) and copied into the disk file.
#
# usage: build.sh --out FILE [--suite bookworm|trixie] [--arch amd64|arm64]
#                 [--flavor full|bare] [--size 2G] [--cache DIR]
#                 [--mirror URL] [--keep-work]
#        build.sh --print-hash [variant options]
#
# Run as root. Writes FILE (sparse raw image), FILE.ssh-key(.pub) (a new test
# key authorized for pi and root), FILE.ssh-host-keys (the image's SSH host
# public keys), FILE.info (shell variables: variant, kernel, cmdline, offsets)
# and FILE.packages (dpkg package list). Debian packages are cached in
# DIR/debs/<suite>-<arch> (DIR defaults to /var/cache/piot/vm).
set -euo pipefail
umask 022

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
t0=$(date +%s)

suite=bookworm arch=amd64 flavor=full size=2G out=
cache=${PIOT_VM_CACHE:-/var/cache/piot/vm}
mirror=http://deb.debian.org/debian
keep_work=0 print_hash=0
args=("$@")
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) suite=${2:?}; shift 2 ;;
    --arch) arch=${2:?}; shift 2 ;;
    --flavor) flavor=${2:?}; shift 2 ;;
    --size) size=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --cache) cache=${2:?}; shift 2 ;;
    --mirror) mirror=${2:?}; shift 2 ;;
    --keep-work) keep_work=1; shift ;;
    --print-hash) print_hash=1; shift ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done

die() { echo "build.sh: error: $*" >&2; exit 1; }
log() { printf '[%4ds] %s\n' $(($(date +%s) - t0)) "$*"; }

case "$suite" in bookworm|trixie) ;; *) die "--suite must be bookworm or trixie" ;; esac
case "$arch" in amd64|arm64) ;; *) die "--arch must be amd64 or arm64" ;; esac
case "$flavor" in full|bare) ;; *) die "--flavor must be full or bare" ;; esac

if [ "$print_hash" = 1 ]; then
  exec "$here/recipe-hash.sh" "${args[@]}"
fi

[ -n "$out" ] || die "--out FILE is required"
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot)"
case "$out" in /*) ;; *) out=$PWD/$out ;; esac
case "$cache" in /*) ;; *) cache=$PWD/$cache ;; esac
mkdir -p "$(dirname "$out")"

need=(debootstrap chroot unshare flock mkfs.ext4 e2fsck mkfs.vfat fsck.vfat mcopy sfdisk ssh-keygen dd truncate numfmt)
[ "$arch" = arm64 ] && [ "$(uname -m)" != aarch64 ] && need+=(qemu-aarch64-static)
for t in "${need[@]}"; do
  command -v "$t" >/dev/null || PATH=$PATH:/usr/sbin:/sbin command -v "$t" >/dev/null ||
    die "missing tool $t (apt-get install debootstrap qemu-user-static dosfstools mtools fdisk e2fsprogs openssh-client coreutils util-linux)"
done
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

# --- layout (sectors of 512 bytes), as Raspberry Pi OS ------------------------
disk_id=5049f700
boot_start=8192                       # 4 MiB
boot_sectors=$((256 * 1024 * 2))      # 256 MiB
root_start=$((boot_start + boot_sectors))
disk_bytes=$(numfmt --from=iec "$size")
disk_sectors=$((disk_bytes / 512))
root_sectors=$(((disk_sectors - root_start) / 8 * 8))
[ "$root_sectors" -gt $((1024 * 1024 * 2)) ] || die "--size $size leaves less than 1 GiB for the root file system"

case "$arch" in
  amd64) console=ttyS0 kernel_pkg=linux-image-amd64
    initrd_modules=(virtio_pci virtio_blk virtio_scsi sd_mod virtio_net virtio_rng ext4 crc32c_generic) ;;
  arm64) console=ttyAMA0 kernel_pkg=linux-image-arm64
    initrd_modules=(virtio_mmio virtio_pci pci-host-generic virtio_blk virtio_scsi sd_mod virtio_net virtio_rng ext4 crc32c_generic) ;;
esac
cmdline="console=$console,115200 console=tty1 root=PARTUUID=$disk_id-02 rootfstype=ext4 fsck.repair=yes rootwait net.ifnames=0"

packages() { sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$@"; }
pkgs=$(packages "$here/packages.txt")
[ "$flavor" = full ] && pkgs+=$'\n'$(packages "$here/packages-full.txt")
pkgs+=$'\n'$kernel_pkg
include=$(echo "$pkgs" | sort -u | paste -sd, -)

recipe_hash=$("$here/recipe-hash.sh" --suite "$suite" --arch "$arch" --flavor "$flavor" --size "$size")

# --- work area ----------------------------------------------------------------
debs=$cache/debs/$suite-$arch
mkdir -p "$debs" "$cache/work"
work=$(mktemp -d "$cache/work/$suite-$arch-$flavor.XXXXXX")
root=$work/root
qemu_copied=
binfmt_note=

# Processes still running inside the root (none expected) were started by this
# build: end them before the root is removed.
kill_chroot_procs() {
  local p r
  for p in /proc/[0-9]*; do
    r=$(readlink "$p/root" 2>/dev/null) || continue
    case "$r" in "$root"|"$root"/*) echo "build.sh: killing leftover ${p#/proc/} ($(cat "$p/comm" 2>/dev/null))" >&2
      kill -KILL "${p#/proc/}" 2>/dev/null || true ;; esac
  done
}
cleanup() {
  local rc=$?
  set +e
  kill_chroot_procs
  [ -n "$qemu_copied" ] && rm -f "$qemu_copied"
  if [ "$keep_work" = 1 ]; then
    echo "build.sh: work directory kept: $work" >&2
  elif grep -q " $work" /proc/self/mounts; then
    # Every mount of the build lives in a private namespace; this cannot
    # happen, and rm -rf must never cross into a mounted file system.
    echo "build.sh: something is mounted under $work; not removing it" >&2
  else
    rm -rf "$work"
  fi
  rm -f "$out.tmp.$$" "$out.tmp.$$".*
  [ $rc = 0 ] || echo "build.sh: FAILED (exit $rc) after $(($(date +%s) - t0)) s" >&2
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "PioT VM image: suite=$suite arch=$arch flavor=$flavor size=$size recipe=${recipe_hash:0:12}"
log "work: $work; package cache: $debs"

# --- foreign architecture: qemu-user through binfmt_misc ------------------------
if [ "$arch" = arm64 ] && [ "$(uname -m)" != aarch64 ]; then
  bm=/proc/sys/fs/binfmt_misc
  if [ ! -e "$bm/register" ]; then
    log "mounting binfmt_misc"
    mount -t binfmt_misc binfmt_misc "$bm"
  fi
  if [ ! -e "$bm/qemu-aarch64" ]; then
    # The entry Debian's qemu-user-static registers (update-binfmts/systemd-binfmt),
    # F: the kernel opens the interpreter now, so it need not exist in the chroot.
    interp=/usr/libexec/qemu-binfmt/aarch64-binfmt-P flags=OPF
    [ -x "$interp" ] || { interp=$(command -v qemu-aarch64-static); flags=F; }
    log "registering $interp for aarch64 ELF (flags $flags)"
    printf '%s' ":qemu-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:$interp:$flags" >"$bm/register"
  fi
  grep -qx enabled "$bm/qemu-aarch64" || echo 1 >"$bm/qemu-aarch64"
  if ! grep -q '^flags:.*F' "$bm/qemu-aarch64"; then
    # Without F the interpreter is looked up inside the chroot.
    interp=$(sed -n 's/^interpreter //p' "$bm/qemu-aarch64")
    binfmt_note="copied $interp into the root (binfmt entry lacks F)"
    log "$binfmt_note"
    install -D -m 0755 "$(command -v qemu-aarch64-static)" "$root$interp"
    qemu_copied=$root$interp
  fi
fi

# --- debootstrap, first stage (download + unpack, runs on the host) ------------
log "debootstrap first stage ($(echo "$include" | tr , '\n' | wc -l) packages requested)"
# (flock: builds sharing the package cache take turns downloading into it)
if ! flock "$debs/.lock" debootstrap --foreign --arch="$arch" --variant=minbase --merged-usr \
    --components=main --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
    --include="$include" --cache-dir="$debs" \
    "$suite" "$root" "$mirror" >"$work/debootstrap-1.log" 2>&1; then
  tail -n 30 "$work/debootstrap-1.log" "$root/debootstrap/debootstrap.log" >&2 2>/dev/null
  die "debootstrap first stage failed"
fi
# A copy made before the root existed would be gone: debootstrap keeps the dir.
[ -z "$qemu_copied" ] || [ -x "$qemu_copied" ] || die "lost $qemu_copied"

# --- files needed before packages are configured ------------------------------
# (the kernel's postinst builds the initramfs during the second stage, with our
# initramfs configuration and fstab in place, so it is built once)
log "overlay files"
( cd "$here/files" && find . -type f ) | while read -r f; do
  mode=0644
  case "$f" in ./etc/sudoers.d/*) mode=0440 ;; esac
  [ -x "$here/files/$f" ] && mode=0755
  install -D -m "$mode" "$here/files/$f" "$root/${f#./}"
done
cat >"$root/etc/fstab" <<EOF
proc            /proc           proc    defaults          0       0
PARTUUID=$disk_id-01  /boot/firmware  vfat    defaults          0       2
PARTUUID=$disk_id-02  /               ext4    defaults,noatime  0       1
EOF
mkdir -p "$root/boot/firmware"
# mkinitramfs reads /usr/share/initramfs-tools/modules.d/* (MODULES=list);
# configure.sh checks that the initramfs got virtio_blk.
mkdir -p "$root/usr/share/initramfs-tools/modules.d"
printf '# PioT test VM: what booting under QEMU needs (build.sh)\n' >"$root/usr/share/initramfs-tools/modules.d/piot-vm"
printf '%s\n' "${initrd_modules[@]}" >>"$root/usr/share/initramfs-tools/modules.d/piot-vm"
# No service starts inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"

# --- debootstrap, second stage (configure, runs in the root) -------------------
# debootstrap mounts /proc and /sys in the root; in a private mount namespace
# (unshare -m) those mounts never show on the host and vanish with it.
# in_root CMD...: run CMD in the root. With in_root_proc, /proc is mounted in
# the root first (systemctl in trixie wants it), again only in the namespace.
in_root() {
  unshare --mount --propagation private -- env -i \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb LC_ALL=C \
    DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true \
    PIOT_SUITE="$suite" PIOT_ARCH="$arch" PIOT_FLAVOR="$flavor" \
    chroot "$root" "$@"
}
in_root_proc() {
  # shellcheck disable=SC2016 # $1/$@ belong to the inner sh
  unshare --mount --propagation private -- sh -c '
    r=$1; shift
    mount -t proc proc "$r/proc" && exec "$@"' sh "$root" \
    env -i \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb LC_ALL=C \
    DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true \
    PIOT_SUITE="$suite" PIOT_ARCH="$arch" PIOT_FLAVOR="$flavor" \
    chroot "$root" "$@"
}
log "debootstrap second stage"
if ! in_root /debootstrap/debootstrap --second-stage >"$work/debootstrap-2.log" 2>&1; then
  tail -n 40 "$work/debootstrap-2.log" "$root/debootstrap/debootstrap.log" >&2 2>/dev/null
  die "debootstrap second stage failed"
fi
kill_chroot_procs

# --- configuration ----------------------------------------------------------------
log "configure"
key=$work/ssh-key
ssh-keygen -q -t ed25519 -N '' -C "piot-vm-test-$suite-$arch-$flavor" -f "$key"
install -m 0644 "$key.pub" "$root/tmp/piot-vm-key.pub"
# Overlay again: package scripts may have rewritten e.g. /etc/hostname.
( cd "$here/files" && find . -type f ) | while read -r f; do
  mode=0644
  case "$f" in ./etc/sudoers.d/*) mode=0440 ;; esac
  [ -x "$here/files/$f" ] && mode=0755
  install -D -m "$mode" "$here/files/$f" "$root/${f#./}"
done
if ! in_root_proc /bin/bash -s <"$here/configure.sh" >"$work/configure.log" 2>&1; then
  cat "$work/configure.log" >&2
  die "configure.sh failed"
fi
kill_chroot_procs
rm -f "$root/usr/sbin/policy-rc.d"
if [ -n "$qemu_copied" ]; then rm -f "$qemu_copied"; qemu_copied=; fi
[ ! -e "$root/debootstrap" ] || die "debootstrap directory left in the root"

kver=$(ls "$root/lib/modules")
cat >"$root/etc/piot-vm-image" <<EOF
# PioT test VM image (test/vm/image/build.sh); not Raspberry Pi OS.
SUITE=$suite
ARCH=$arch
FLAVOR=$flavor
RECIPE_HASH=$recipe_hash
KERNEL=$kver
BUILT_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EOF
dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Package}\t${Version}\t${Architecture}\n' >"$work/packages"
cat "$root"/etc/ssh/ssh_host_*_key.pub >"$work/ssh-host-keys"

# --- boot partition: FAT32 "bootfs" ------------------------------------------------
log "bootfs (FAT32)"
bootdir=$work/bootfs
mkdir -p "$bootdir"
install -m 0644 "$here/bootfs/config.txt" "$bootdir/config.txt"
printf '%s\n' "$cmdline" >"$bootdir/cmdline.txt"
install -m 0644 "$root/boot/vmlinuz-$kver" "$bootdir/vmlinuz"
install -m 0644 "$root/boot/initrd.img-$kver" "$bootdir/initrd.img"
printf 'PioT test VM image %s %s %s (recipe %s), kernel %s\n' \
  "$suite" "$arch" "$flavor" "${recipe_hash:0:12}" "$kver" >"$bootdir/issue.txt"
# (mkfs.fat warns that the lowercase label "bootfs" may not work everywhere;
# Raspberry Pi OS uses exactly that label.)
mkfs.vfat -F 32 -n bootfs -i "${disk_id^^}" -C "$work/boot.img" $((boot_sectors / 2)) >"$work/mkfs.vfat.log" 2>&1 ||
  { cat "$work/mkfs.vfat.log" >&2; die "mkfs.vfat failed"; }
MTOOLS_SKIP_CHECK=1 mcopy -i "$work/boot.img" -m "$bootdir"/* ::
fsck.vfat -n "$work/boot.img" >"$work/fsck.vfat.log" 2>&1 || { cat "$work/fsck.vfat.log" >&2; die "fsck.vfat found errors"; }

# --- root partition: ext4 "rootfs" --------------------------------------------------
log "rootfs (ext4, $(du -sh "$root" | cut -f1) of files)"
truncate -s $((root_sectors * 512)) "$work/root.img"
# One inode per 8 KiB (mke2fs's default is 16 KiB): node_modules trees are
# many small files.
mkfs.ext4 -q -F -L rootfs -i 8192 -d "$root" -E root_owner=0:0 "$work/root.img"
e2fsck -fn "$work/root.img" >"$work/e2fsck.log" 2>&1 || { cat "$work/e2fsck.log" >&2; die "e2fsck found errors"; }

# --- disk: MBR + partitions -------------------------------------------------------
log "disk image"
img=$out.tmp.$$
truncate -s "$disk_bytes" "$img"
sfdisk --quiet --no-reread --no-tell-kernel "$img" <<EOF
label: dos
label-id: 0x$disk_id
unit: sectors
sector-size: 512

start=$boot_start, size=$boot_sectors, type=c
start=$root_start, size=$root_sectors, type=83
EOF
dd if="$work/boot.img" of="$img" bs=512 seek=$boot_start conv=notrunc,sparse status=none
dd if="$work/root.img" of="$img" bs=1M seek=$((root_start / 2048)) conv=notrunc,sparse status=none
[ $((root_start % 2048)) = 0 ] || die "root partition not MiB-aligned"

secs=$(($(date +%s) - t0))
cat >"$work/info" <<EOF
# PioT test VM image: source this file.
SUITE=$suite
ARCH=$arch
FLAVOR=$flavor
RECIPE_HASH=$recipe_hash
KERNEL=$kver
CMDLINE='$cmdline'
DISK_ID=$disk_id
BOOT_OFFSET=$((boot_start * 512))
BOOT_SIZE=$((boot_sectors * 512))
ROOT_OFFSET=$((root_start * 512))
ROOT_SIZE=$((root_sectors * 512))
BUILD_SECONDS=$secs
EOF

# Publish: everything next to FILE, the image last.
install -m 0600 "$key" "$out.ssh-key"
install -m 0644 "$key.pub" "$out.ssh-key.pub"
install -m 0644 "$work/ssh-host-keys" "$out.ssh-host-keys"
install -m 0644 "$work/packages" "$out.packages"
install -m 0644 "$work/info" "$out.info"
mv -f "$img" "$out"

log "done: $out"
echo "build time: $secs s"
echo "image size: $(du -h --apparent-size "$out" | cut -f1) apparent, $(du -h "$out" | cut -f1) allocated"
echo "kernel: $kver; cmdline: $cmdline"
[ -z "$binfmt_note" ] || echo "note: $binfmt_note"
