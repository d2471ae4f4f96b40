#!/bin/bash
# Runs INSIDE the image root (chroot), after debootstrap's second stage, as
# part of build.sh. Environment: PIOT_SUITE, PIOT_ARCH, PIOT_FLAVOR; the test
# SSH public key is at /tmp/piot-vm-key.pub. No /proc is needed for anything
# here.
set -euo pipefail
export LC_ALL=C DEBIAN_FRONTEND=noninteractive

step() { echo "configure: $*"; }

# --- user pi, as Raspberry Pi OS (Imager) sets up its first user ------------
step "user pi"
# Raspberry Pi OS has these groups (gpio/i2c/spi come from raspberrypi-sys-mods).
for g in adm dialout cdrom sudo audio video plugdev games users input render netdev gpio i2c spi; do
  getent group "$g" >/dev/null || groupadd --system "$g"
done
useradd --create-home --uid 1000 --user-group --shell /bin/bash \
  --groups adm,dialout,cdrom,sudo,audio,video,plugdev,games,users,input,render,netdev,gpio,i2c,spi \
  pi
# Console login for debugging over the serial port (the VM only ever gets
# loopback port forwards). Tests log in with the SSH key.
echo 'pi:raspberry' | chpasswd
# Raspberry Pi OS: passwordless sudo for the first user (/etc/sudoers.d/010_pi-nopasswd).
chmod 0440 /etc/sudoers.d/010_pi-nopasswd
visudo -c -q

step "ssh keys for pi and root"
install -d -m 0700 -o pi -g pi /home/pi/.ssh
install -m 0600 -o pi -g pi /tmp/piot-vm-key.pub /home/pi/.ssh/authorized_keys
install -d -m 0700 /root/.ssh
install -m 0600 /tmp/piot-vm-key.pub /root/.ssh/authorized_keys
rm -f /tmp/piot-vm-key.pub
# Host keys were made by openssh-server's postinst; every VM of one image
# shares them (build.sh stores the public ones next to the image).
ls /etc/ssh/ssh_host_ed25519_key >/dev/null

# --- services -----------------------------------------------------------------
step "services"
systemctl enable ssh.service NetworkManager.service avahi-daemon.service systemd-timesyncd.service
systemctl set-default multi-user.target
# The serial console's getty (serial-getty@ttyS0 / ttyAMA0) is started by
# systemd-getty-generator for the console= device; nothing to do.

# systemd >= 256 (trixie) has a generator that offers sshd over AF_VSOCK; in a
# QEMU guest without a vsock device it logs "Failed to query local AF_VSOCK
# CID" at error level on every boot. sshd on port 22 is what we use.
if [ -e /usr/lib/systemd/system-generators/systemd-ssh-generator ]; then
  install -d /etc/systemd/system-generators
  ln -sf /dev/null /etc/systemd/system-generators/systemd-ssh-generator
fi

# Persistent journal (Raspberry Pi OS default); the drop-in sets Storage=persistent.
install -d -m 2755 -g systemd-journal /var/log/journal

# --- network: NetworkManager manages every interface -------------------------
step "network"
# Debian's NetworkManager.conf has plugins=ifupdown,keyfile and
# [ifupdown] managed=false: devices named in /etc/network/interfaces would be
# left unmanaged. Raspberry Pi OS has no such stanza, nor do we (ifupdown is not
# installed); fail loudly if something put one there.
if [ -e /etc/network/interfaces ] &&
  grep -Eq '^[[:space:]]*(auto|allow-hotplug|iface)[[:space:]]+(eth|en|wlan|wl)' /etc/network/interfaces; then
  echo "configure: /etc/network/interfaces configures an interface; NetworkManager would not manage it" >&2
  exit 1
fi
if grep -Eq '^[[:space:]]*no-auto-default' /etc/NetworkManager/NetworkManager.conf /etc/NetworkManager/conf.d/*.conf 2>/dev/null; then
  echo "configure: no-auto-default set; NetworkManager would not create 'Wired connection 1'" >&2
  exit 1
fi
# NetworkManager writes /etc/resolv.conf itself (as on Raspberry Pi OS);
# debootstrap copied the build host's.
rm -f /etc/resolv.conf
: >/etc/resolv.conf

# --- apt sources as on the real OS (the Raspberry Pi archive left out) --------
step "apt sources"
case "$PIOT_SUITE" in
  bookworm)
    rm -f /etc/apt/sources.list.d/debian.sources
    cat >/etc/apt/sources.list <<EOF
deb http://deb.debian.org/debian bookworm main contrib non-free non-free-firmware
deb http://deb.debian.org/debian-security/ bookworm-security main contrib non-free non-free-firmware
deb http://deb.debian.org/debian bookworm-updates main contrib non-free non-free-firmware
EOF
    ;;
  *)
    rm -f /etc/apt/sources.list
    cat >/etc/apt/sources.list.d/debian.sources <<EOF
Types: deb
URIs: http://deb.debian.org/debian/
Suites: $PIOT_SUITE $PIOT_SUITE-updates
Components: main contrib non-free non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security/
Suites: $PIOT_SUITE-security
Components: main contrib non-free non-free-firmware
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    ;;
esac

# --- checks -------------------------------------------------------------------
step "checks"
kver=$(ls /lib/modules)
[ "$(echo "$kver" | wc -l)" = 1 ] || { echo "configure: expected one kernel, got: $kver" >&2; exit 1; }
find "/lib/modules/$kver" -name 'mac80211_hwsim.ko*' | grep -q . ||
  { echo "configure: kernel $kver has no mac80211_hwsim module" >&2; exit 1; }
initrd_list=$(lsinitramfs "/boot/initrd.img-$kver")
for m in virtio_blk virtio_pci ext4; do
  echo "$initrd_list" | grep -Eq "/$m\.ko" || grep -Eq "/$m\.ko\$" "/lib/modules/$kver/modules.builtin" ||
    { echo "configure: initramfs lacks $m (and the kernel has it as a module)" >&2; exit 1; }
done
case "$PIOT_FLAVOR" in
  full) command -v node >/dev/null && command -v git >/dev/null ;;
  bare) if command -v node || command -v git; then echo "configure: bare image has node/git" >&2; exit 1; fi ;;
esac

# --- leave it clean, as Raspberry Pi OS's pi-gen does --------------------------
step "clean up"
apt-get clean
find /var/lib/apt/lists -mindepth 1 -maxdepth 1 ! -name partial ! -name lock -exec rm -rf {} +
# Empty machine-id: systemd makes a new one on the first boot of each VM.
: >/etc/machine-id
rm -f /var/lib/dbus/machine-id
rm -rf /tmp/* /var/tmp/*
find /var/log -type f \( -name '*.log' -o -name '*.gz' \) -delete
