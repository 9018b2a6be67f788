// The firstrun.sh + cmdline.txt style, as Raspberry Pi Imager does it for Bookworm: cmdline.txt asks
// systemd to run /boot/firstrun.sh once, early in the first boot and before the network is up, then to
// reboot. The script sets up the Pi and runs fleetkit/install.sh (the agent and Node.js from the card, no
// network needed); the agent starts at the next boot.
import { createHash } from 'node:crypto';
import { shellQuote } from '../../lib/cli/shell-quote.ts';
import { FLASH_MARKER } from './agent-files.ts';
import type { FlashConfig } from './settings.ts';

export const FIRSTRUN_FILE = 'firstrun.sh';
export const FIRSTRUN_HOOK = [
  'systemd.run=/boot/firstrun.sh',
  'systemd.run_success_action=reboot',
  'systemd.unit=kernel-command-line.target',
];
const HOOK_TOKEN =
  /^(systemd\.run=|systemd\.run_success_action=|systemd\.run_failure_action=|systemd\.unit=kernel-command-line\.target$)/;
const REGDOM_TOKEN = 'cfg80211.ieee80211_regdom=';

export interface CmdlineEdit {
  /** add: the firstrun hook, exactly once; remove: take any systemd.run hook out; keep: leave it. */
  hook: 'add' | 'remove' | 'keep';
  /** Sets the Wi-Fi regulatory domain at boot, as Imager does (replaces one already there). */
  country: string | undefined;
}

/**
 * cmdline.txt with the hook and the regulatory domain, whatever it had before: running it again gives
 * the same line. Only the first line counts for the firmware; the others are left as they are.
 * `replacedHook` is a systemd.run= that was not ours (another tool's first-boot script).
 */
export function editCmdline(
  text: string,
  edit: CmdlineEdit,
): { text: string; replacedHook: string | undefined } {
  const [first = '', ...rest] = text.replace(/\r\n/g, '\n').split('\n');
  let tokens = first.split(/\s+/).filter(Boolean);
  const existingRun = tokens.find((t) => t.startsWith('systemd.run='));
  if (edit.hook !== 'keep') tokens = tokens.filter((t) => !HOOK_TOKEN.test(t));
  if (edit.country !== undefined) {
    tokens = tokens.filter((t) => !t.startsWith(REGDOM_TOKEN));
    tokens.push(`${REGDOM_TOKEN}${edit.country}`);
  }
  if (edit.hook === 'add') tokens.push(...FIRSTRUN_HOOK);
  const tail = rest.join('\n');
  return {
    text: `${tokens.join(' ')}\n${tail.trim() === '' ? '' : tail}`,
    replacedHook: edit.hook === 'add' && existingRun !== FIRSTRUN_HOOK[0] ? existingRun : undefined,
  };
}

/**
 * An SSID as NetworkManager's keyfile reads it back unchanged: plain when it is simple text, else as
 * its bytes ("67;111;110;102;"), which is never mistaken for text nor needs any escaping.
 */
export function nmKeyfileSsid(ssid: string): string {
  if (/^[A-Za-z0-9_.@+-]+(?: [A-Za-z0-9_.@+-]+)*$/.test(ssid) && /[^0-9]/.test(ssid)) return ssid;
  return `${[...Buffer.from(ssid, 'utf8')].join(';')};`;
}

/** A stable UUID for the Wi-Fi connection, from the SSID: a second run writes the same file. */
function connectionUuid(ssid: string): string {
  const hex = createHash('sha256').update(`fleetkit-wifi\0${ssid}`).digest('hex');
  const variant = ((Number.parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

export const SETTINGS_BEGIN = '# ---- settings ----';
export const SETTINGS_END = '# ---- end of settings ----';

/** The settings the script reads, each a single-quoted shell word: the only lines that hold user input. */
export function firstrunSettings(config: FlashConfig): [string, string][] {
  const wifi = config.wifi;
  return [
    ['FLEETKIT_HOSTNAME', config.hostname],
    ['FLEETKIT_USER', config.user],
    ['FLEETKIT_SSH_KEYS', config.sshKeys.join('\n')],
    ['FLEETKIT_WIFI_SSID', wifi?.ssid ?? ''],
    ['FLEETKIT_WIFI_SSID_HEX', wifi ? Buffer.from(wifi.ssid, 'utf8').toString('hex') : ''],
    ['FLEETKIT_WIFI_NM_SSID', wifi ? nmKeyfileSsid(wifi.ssid) : ''],
    ['FLEETKIT_WIFI_UUID', wifi ? connectionUuid(wifi.ssid) : ''],
    ['FLEETKIT_WIFI_PSK', wifi?.psk ?? ''],
    ['FLEETKIT_WIFI_COUNTRY', config.country ?? ''],
  ];
}

export function firstrunScript(config: FlashConfig): string {
  const settings = firstrunSettings(config)
    .map(([name, value]) => `${name}=${shellQuote(value)}`)
    .join('\n');
  return `#!/bin/sh
# First boot of a fleetkit Pi: ${FLASH_MARKER} (a new run rewrites it: change the settings there).
# systemd runs it once, from cmdline.txt (systemd.run=/boot/firstrun.sh), before the network is up. It sets
# the hostname, the user and its SSH key, Wi-Fi, installs the agent (fleetkit/install.sh), then takes itself
# out of cmdline.txt and off the card, and systemd reboots. Log: /var/log/fleetkit-firstrun.log
# Not set -e: a step that fails is logged, and the others still run; the script always removes itself.

${SETTINGS_BEGIN}
${settings}
${SETTINGS_END}

LOG=/var/log/fleetkit-firstrun.log
log() {
  printf 'fleetkit firstrun: %s\\n' "$*"
  printf '%s\\n' "$*" >>"$LOG" 2>/dev/null || true
}

BOOT=
for dir in /boot/firmware /boot; do
  if [ -f "$dir/fleetkit/install.sh" ]; then
    BOOT=$dir
    break
  fi
done

finish() {
  for dir in /boot/firmware /boot; do
    if [ -f "$dir/cmdline.txt" ]; then
      sed -i -e 's/ systemd\\.run=[^ ]*//g' -e 's/ systemd\\.run_success_action=[^ ]*//g' \\
        -e 's/ systemd\\.run_failure_action=[^ ]*//g' -e 's/ systemd\\.unit=kernel-command-line\\.target//g' \\
        "$dir/cmdline.txt"
    fi
    rm -f "$dir/firstrun.sh"
    # The stores' credentials never stay on the card: install.sh moved them (or failed: they go anyway).
    if [ -z "$CLOUD_INIT_LATER" ]; then rm -rf "$dir/fleetkit/credentials"; fi
  done
  sync
}
CLOUD_INIT_LATER=
trap finish EXIT

# On an image with cloud-init, the user-data beside this script does the same work after the reboot.
if [ -n "$BOOT" ] && [ -f "$BOOT/user-data" ] && grep -q 'fleetkit flash' "$BOOT/user-data" &&
  command -v cloud-init >/dev/null 2>&1; then
  log "cloud-init is installed: it applies $BOOT/user-data after this reboot"
  CLOUD_INIT_LATER=1
  exit 0
fi

log "hostname: $FLEETKIT_HOSTNAME"
printf '%s\\n' "$FLEETKIT_HOSTNAME" >/etc/hostname
if [ -f /etc/hosts ]; then
  sed -i '/^127\\.0\\.1\\.1[[:space:]]/d' /etc/hosts
fi
printf '127.0.1.1\\t%s\\n' "$FLEETKIT_HOSTNAME" >>/etc/hosts

log "user: $FLEETKIT_USER (SSH keys only, no password)"
FIRSTUSER=$(getent passwd 1000 | cut -d: -f1)
if [ -x /usr/lib/userconf-pi/userconf ]; then
  # Raspberry Pi OS: renames the first user (uid 1000) and turns off the "create a user" wizard.
  /usr/lib/userconf-pi/userconf "$FLEETKIT_USER" ''
elif id "$FLEETKIT_USER" >/dev/null 2>&1; then
  :
elif [ -n "$FIRSTUSER" ]; then
  usermod -l "$FLEETKIT_USER" "$FIRSTUSER" && usermod -m -d "/home/$FLEETKIT_USER" "$FLEETKIT_USER" &&
    groupmod -n "$FLEETKIT_USER" "$FIRSTUSER"
else
  useradd -m -s /bin/bash "$FLEETKIT_USER"
fi
usermod -p '*' "$FLEETKIT_USER"
usermod -a -G sudo "$FLEETKIT_USER" 2>/dev/null
printf '%s ALL=(ALL) NOPASSWD: ALL\\n' "$FLEETKIT_USER" >/etc/sudoers.d/020_fleetkit-nopasswd
chmod 440 /etc/sudoers.d/020_fleetkit-nopasswd

HOME_DIR=$(getent passwd "$FLEETKIT_USER" | cut -d: -f6)
GROUP=$(id -gn "$FLEETKIT_USER")
if [ -n "$HOME_DIR" ] && [ -n "$GROUP" ]; then
  install -d -m 700 -o "$FLEETKIT_USER" -g "$GROUP" "$HOME_DIR/.ssh"
  printf '%s\\n' "$FLEETKIT_SSH_KEYS" >"$HOME_DIR/.ssh/authorized_keys"
  chown "$FLEETKIT_USER:$GROUP" "$HOME_DIR/.ssh/authorized_keys"
  chmod 600 "$HOME_DIR/.ssh/authorized_keys"
else
  log "no home folder for $FLEETKIT_USER: its SSH key is not installed"
fi
mkdir -p /etc/ssh/sshd_config.d
printf '%s\\n' '# fleetkit flash: log in with an SSH key' 'PasswordAuthentication no' \\
  >/etc/ssh/sshd_config.d/fleetkit.conf
systemctl enable ssh >/dev/null 2>&1 || log "could not enable ssh"

if [ -n "$FLEETKIT_WIFI_SSID_HEX" ]; then
  log "Wi-Fi: $FLEETKIT_WIFI_SSID ($FLEETKIT_WIFI_COUNTRY)"
  if [ -d /etc/NetworkManager ]; then
    CONNECTION=/etc/NetworkManager/system-connections/fleetkit-wifi.nmconnection
    mkdir -p /etc/NetworkManager/system-connections
    (
      umask 077
      printf '%s\\n' '[connection]' 'id=fleetkit-wifi' "uuid=$FLEETKIT_WIFI_UUID" 'type=wifi' 'autoconnect=true' \\
        '' '[wifi]' 'mode=infrastructure' "ssid=$FLEETKIT_WIFI_NM_SSID" \\
        '' '[wifi-security]' 'key-mgmt=wpa-psk' "psk=$FLEETKIT_WIFI_PSK" \\
        '' '[ipv4]' 'method=auto' '' '[ipv6]' 'addr-gen-mode=default' 'method=auto' >"$CONNECTION"
    )
  else
    mkdir -p /etc/wpa_supplicant
    (
      umask 077
      printf '%s\\n' "country=$FLEETKIT_WIFI_COUNTRY" 'ctrl_interface=DIR=/var/run/wpa_supplicant GROUP=netdev' \\
        'update_config=1' '' 'network={' "ssid=$FLEETKIT_WIFI_SSID_HEX" "psk=$FLEETKIT_WIFI_PSK" '}' \\
        >/etc/wpa_supplicant/wpa_supplicant.conf
    )
  fi
  # Raspberry Pi OS keeps the radio blocked until a country is set (cmdline.txt has it too).
  if command -v raspi-config >/dev/null 2>&1; then
    raspi-config nonint do_wifi_country "$FLEETKIT_WIFI_COUNTRY" >/dev/null 2>&1 || log "raspi-config could not set the Wi-Fi country"
  fi
  rfkill unblock wifi 2>/dev/null
  for state in /var/lib/systemd/rfkill/*:wlan; do
    if [ -f "$state" ]; then
      echo 0 >"$state"
    fi
  done
fi

if [ -n "$BOOT" ]; then
  log "installing the fleetkit agent from $BOOT/fleetkit"
  if sh "$BOOT/fleetkit/install.sh" >>"$LOG" 2>&1; then
    log "agent installed (see $LOG for Node.js); it starts at the next boot"
  else
    log "fleetkit/install.sh failed: see $LOG"
  fi
else
  log "no fleetkit/install.sh on the boot partition: the agent is not installed"
fi
log "done: rebooting"
exit 0
`;
}
