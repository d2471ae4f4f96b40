#!/bin/bash
# PioT's first boot. `piot image configure` puts this script and the device's settings in
# piot/ on the boot partition and adds `systemd.run=` to cmdline.txt, as Raspberry Pi Imager
# does with firstrun.sh: systemd runs it alone in a minimal boot, then reboots.
#
# It installs PioT, moves every secret off the boot partition into root-only files,
# writes NetworkManager keyfiles, sets hostname, user, SSH keys, Wi-Fi country, time zone
# and locale, enables SSH and PioT's bootstrap, then wipes piot/ and restores cmdline.txt.
#
# A power cut at any point is safe: until /var/lib/piot/firstboot-done records this
# configuration, every step runs again (each is idempotent); after it, only the clean-up
# is left to do. Read what it did with: journalctl -t piot-firstboot (or -u kernel-command-line)
set -eu -o pipefail

BOOT=${PIOT_BOOT_DIR:-/boot/firmware}
SRC=$BOOT/piot
DONE=/var/lib/piot/firstboot-done
STEPS=9

log() {
  logger -t piot-firstboot -- "$*" 2>/dev/null || echo "piot-firstboot: $*"
  # Progress on every console (screen and serial line) during this minimal boot.
  local c
  for c in $(cat /sys/class/tty/console/active 2>/dev/null); do
    echo "piot-firstboot: $*" >"/dev/$c" 2>/dev/null || true
  done
}
trap 'log "error: failed at line $LINENO: $BASH_COMMAND (exit $?); it runs again at the next boot"' ERR

# The script wipes piot/ at the end, itself included: run from a copy in /run.
if [ "${PIOT_FIRSTBOOT_COPY:-}" != 1 ]; then
  cp "$0" /run/piot-firstboot.sh
  PIOT_FIRSTBOOT_COPY=1 exec /bin/bash /run/piot-firstboot.sh "$@"
fi

step() { log "step $1/$STEPS $2"; }

# install_file MODE DEST SRC: copies a file into place atomically (a cut leaves the old or the new).
install_file() {
  # Only a missing directory is made (0755); existing ones keep their mode (/etc/piot: 0700).
  [ -d "$(dirname "$2")" ] || install -d -m 0755 "$(dirname "$2")"
  install -m "$1" -o root -g root "$SRC/$3" "$2.piot-new"
  mv -f "$2.piot-new" "$2"
}

set_hostname() {
  echo "$PIOT_HOSTNAME" >/etc/hostname
  if grep -q '^127\.0\.1\.1[[:space:]]' /etc/hosts; then
    sed -i "s/^127\.0\.1\.1[[:space:]].*/127.0.1.1\t$PIOT_HOSTNAME/" /etc/hosts
  else
    printf '127.0.1.1\t%s\n' "$PIOT_HOSTNAME" >>/etc/hosts
  fi
  hostname "$PIOT_HOSTNAME" 2>/dev/null || true
}

# The first user (uid 1000, "pi" on older images) becomes PIOT_USER, as Raspberry Pi OS's
# userconf does; without one, the user is created with Raspberry Pi OS's usual groups.
set_user() {
  [ -n "${PIOT_USER:-}" ] || return 0
  local first home
  if ! id "$PIOT_USER" >/dev/null 2>&1; then
    first=$(getent passwd 1000 | cut -d: -f1 || true)
    if [ -n "$first" ]; then
      usermod -l "$PIOT_USER" "$first"
      groupmod -n "$PIOT_USER" "$first" 2>/dev/null || true
      usermod -d "/home/$PIOT_USER" -m "$PIOT_USER"
      for f in /etc/sudoers.d/*; do
        [ -f "$f" ] && sed -i "s/^$first /$PIOT_USER /" "$f"
      done
      log "renamed user $first to $PIOT_USER"
    else
      local groups=() g
      for g in adm dialout cdrom sudo audio video plugdev games users input render netdev spi i2c gpio; do
        getent group "$g" >/dev/null && groups+=("$g")
      done
      useradd -m -s /bin/bash -G "$(IFS=,; echo "${groups[*]}")" "$PIOT_USER"
      echo "$PIOT_USER ALL=(ALL) NOPASSWD: ALL" >"/etc/sudoers.d/010_piot-$PIOT_USER-nopasswd"
      chmod 0440 "/etc/sudoers.d/010_piot-$PIOT_USER-nopasswd"
      log "created user $PIOT_USER"
    fi
  fi
  if [ -n "${PIOT_PASSWORD_HASH:-}" ]; then
    usermod -p "$PIOT_PASSWORD_HASH" "$PIOT_USER"
  fi
  # Raspberry Pi OS asks for a user at the first boot unless one was set up.
  systemctl disable userconfig.service >/dev/null 2>&1 || true
  home=$(getent passwd "$PIOT_USER" | cut -d: -f6)
  if [ -s "$SRC/authorized_keys" ]; then
    install -d -m 0700 -o "$PIOT_USER" -g "$(id -gn "$PIOT_USER")" "$home/.ssh"
    install -m 0600 -o "$PIOT_USER" -g "$(id -gn "$PIOT_USER")" "$SRC/authorized_keys" "$home/.ssh/authorized_keys"
  fi
}

set_wifi_country() {
  [ -n "${PIOT_WIFI_COUNTRY:-}" ] || return 0
  if command -v raspi-config >/dev/null; then
    raspi-config nonint do_wifi_country "$PIOT_WIFI_COUNTRY" || true
  fi
  echo "options cfg80211 ieee80211_regdom=$PIOT_WIFI_COUNTRY" >/etc/modprobe.d/piot-wifi-country.conf
  # Raspberry Pi OS keeps Wi-Fi soft-blocked until a country is set.
  for f in /var/lib/systemd/rfkill/*:wlan; do
    [ -e "$f" ] && echo 0 >"$f"
  done
  rfkill unblock wifi 2>/dev/null || true
}

set_time_and_locale() {
  if [ -n "${PIOT_TIMEZONE:-}" ] && [ -e "/usr/share/zoneinfo/$PIOT_TIMEZONE" ]; then
    ln -sf "/usr/share/zoneinfo/$PIOT_TIMEZONE" /etc/localtime
    echo "$PIOT_TIMEZONE" >/etc/timezone
  fi
  if [ -n "${PIOT_LOCALE:-}" ]; then
    if [ -f /etc/locale.gen ] && command -v locale-gen >/dev/null; then
      grep -q "^$PIOT_LOCALE " /etc/locale.gen || {
        sed -i "s/^# *\($PIOT_LOCALE .*\)/\1/" /etc/locale.gen
        grep -q "^$PIOT_LOCALE " /etc/locale.gen || echo "$PIOT_LOCALE UTF-8" >>/etc/locale.gen
      }
      locale-gen >/dev/null
    fi
    echo "LANG=$PIOT_LOCALE" >/etc/default/locale
  fi
}

configure() {
  # shellcheck source=/dev/null
  . "$SRC/settings.env"
  log "configuring device $PIOT_HOSTNAME (configuration $PIOT_CONFIG_ID)"
  step 1 "install PioT and move secrets to /etc/piot"
  install -d -m 0700 /etc/piot /etc/piot/identity
  chmod 0700 /etc/piot /etc/piot/identity
  install -d -m 0755 /etc/NetworkManager/system-connections
  local mode dest src
  while read -r mode dest src; do
    [ -n "$mode" ] && install_file "$mode" "$dest" "$src"
  done <"$SRC/manifest"
  chmod 0700 /etc/piot /etc/piot/identity
  step 2 "hostname $PIOT_HOSTNAME"
  set_hostname
  step 3 "user ${PIOT_USER:-(unchanged)}"
  set_user
  step 4 "enable SSH"
  systemctl enable ssh.service >/dev/null 2>&1 || systemctl enable sshd.service >/dev/null
  step 5 "Wi-Fi country ${PIOT_WIFI_COUNTRY:-(unchanged)}"
  set_wifi_country
  step 6 "time zone ${PIOT_TIMEZONE:-(unchanged)}, locale ${PIOT_LOCALE:-(unchanged)}"
  set_time_and_locale
  step 7 "enable piot-bootstrap.service"
  # Trixie images set themselves up with cloud-init; PioT has done that job, and cloud-init
  # must not redo it from the boot partition's seed at a later boot.
  if [ -d /etc/cloud ]; then touch /etc/cloud/cloud-init.disabled; fi
  systemctl daemon-reload || true
  systemctl enable piot-bootstrap.service
  sync
  mkdir -p "$(dirname "$DONE")"
  echo "$PIOT_CONFIG_ID" >"$DONE.tmp"
  sync "$DONE.tmp"
  mv "$DONE.tmp" "$DONE"
  sync
}

# Overwrites the boot partition's copies of PioT's files with zeros before deleting them:
# a deleted file's clusters would still hold its secrets.
wipe_boot_files() {
  [ -d "$SRC" ] || return 0
  find "$SRC" -type f -exec shred --iterations=0 --zero --remove=unlink {} +
  rm -rf "$SRC"
  sync
}

restore_cmdline() {
  local cmdline=$BOOT/cmdline.txt
  sed -e 's# systemd\.run=/boot/firmware/piot/firstboot\.sh##' \
    -e 's# systemd\.run_success_action=reboot##' \
    -e 's# systemd\.unit=kernel-command-line\.target##' "$cmdline" >"$cmdline.piot-new"
  sync "$cmdline.piot-new"
  mv -f "$cmdline.piot-new" "$cmdline"
  sync
}

log "starting"
config_id=$(sed -n "s/^PIOT_CONFIG_ID='\(.*\)'$/\1/p" "$SRC/settings.env" 2>/dev/null || true)
if [ -f "$DONE" ] && { [ -z "$config_id" ] || [ "$(cat "$DONE")" = "$config_id" ]; }; then
  log "configuration already applied; finishing"
elif [ -n "$config_id" ]; then
  configure
else
  log "error: $SRC/settings.env is missing and this device was never configured"
  exit 1
fi
step 8 "wipe piot/ from the boot partition"
wipe_boot_files
step 9 "restore cmdline.txt"
restore_cmdline
log "done; rebooting"
