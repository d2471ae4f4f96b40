#!/bin/bash
# Starts a simulated Wi-Fi access point inside the virtual Pi: mac80211_hwsim
# gives two radios; hostapd serves SSID $1 with passphrase $2 on wlan1, which
# NetworkManager is told to leave alone; wlan0 is left for NetworkManager.
set -euo pipefail
trap 'echo "wifi-ap.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
ssid=${1:?ssid} psk=${2:?psk}
# NetworkManager must never touch the AP's radio: unmanaged before it appears.
printf '[keyfile]\nunmanaged-devices=interface-name:wlan1\n' >/etc/NetworkManager/conf.d/99-piot-test-ap.conf
systemctl reload NetworkManager
modprobe mac80211_hwsim radios=2
for _ in $(seq 50); do ip link show wlan1 >/dev/null 2>&1 && break; sleep 0.2; done
for _ in $(seq 50); do nmcli -t -f DEVICE,STATE device | grep -qx 'wlan1:unmanaged' && break; sleep 0.2; done
ip addr add 192.168.77.1/24 dev wlan1 2>/dev/null || true
cat >/run/piot-test-hostapd.conf <<CONF
interface=wlan1
driver=nl80211
ssid=$ssid
hw_mode=g
channel=6
wpa=2
wpa_passphrase=$psk
wpa_key_mgmt=WPA-PSK
rsn_pairwise=CCMP
CONF
hostapd -B -P /run/piot-test-hostapd.pid /run/piot-test-hostapd.conf >/run/piot-test-hostapd.log 2>&1 || { cat /run/piot-test-hostapd.log >&2; exit 1; }
