// The cloud-init style, as newer Raspberry Pi OS images and Raspberry Pi Imager 2 use it: user-data,
// network-config and meta-data on the boot partition (cloud-init's NoCloud source). cloud-init creates the
// user, sets the hostname and Wi-Fi, then (runcmd, network up) runs fleetkit/install.sh --start.
// Every value is a YAML double-quoted string (quote.ts); every line is ours, so no YAML library is needed.
import { createHash } from 'node:crypto';
import { FLASH_MARKER } from './agent-files.ts';
import { yamlString } from './quote.ts';
import type { FlashConfig } from './settings.ts';

export const CLOUD_INIT_FILES = ['user-data', 'network-config', 'meta-data'] as const;

// Raspberry Pi OS's first user is in these groups; cloud-init creates any this image lacks.
const PI_GROUPS = 'users,adm,dialout,audio,netdev,video,plugdev,cdrom,games,input,gpio,spi,i2c,render,sudo';

// Static text: finds the boot partition (/boot/firmware on Bookworm and later, /boot before).
const RUN_INSTALLER =
  'for dir in /boot/firmware /boot; do if [ -f "$dir/fleetkit/install.sh" ]; then exec sh "$dir/fleetkit/install.sh" --start; fi; done; echo "fleetkit: no fleetkit/install.sh on the boot partition" >&2; exit 1';

export function userData(config: FlashConfig): string {
  const keys = config.sshKeys.map((key) => `      - ${yamlString(key)}`).join('\n');
  return `#cloud-config
# ${FLASH_MARKER} (a new run rewrites it). cloud-init applies it at the first boot: hostname, the user
# with its SSH key (no password), SSH on, then the fleetkit agent from the boot partition's fleetkit/.
hostname: ${yamlString(config.hostname)}
manage_etc_hosts: true
users:
  - name: ${yamlString(config.user)}
    groups: ${yamlString(PI_GROUPS)}
    shell: /bin/bash
    lock_passwd: true
    sudo: ${yamlString('ALL=(ALL) NOPASSWD:ALL')}
    ssh_authorized_keys:
${keys}
enable_ssh: true
ssh_pwauth: false
runcmd:
  - [sh, -c, ${yamlString(RUN_INSTALLER)}]
`;
}

export function networkConfig(config: FlashConfig): string {
  const lines = [
    `# ${FLASH_MARKER}: Ethernet and${config.wifi ? '' : ' no'} Wi-Fi, both by DHCP.`,
    'network:',
    '  version: 2',
    '  ethernets:',
    '    eth0:',
    '      dhcp4: true',
    '      optional: true',
  ];
  if (config.wifi) {
    lines.push(
      '  wifis:',
      '    wlan0:',
      '      dhcp4: true',
      '      optional: true',
      ...(config.country ? [`      regulatory-domain: ${yamlString(config.country)}`] : []),
      '      access-points:',
      `        ${yamlString(config.wifi.ssid)}:`,
      // The PSK derived from the passphrase (64 hex digits): the passphrase itself stays off the card.
      `          password: ${yamlString(config.wifi.psk)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * cloud-init runs its per-instance steps again only for a new instance-id: derived from the other two
 * files, so that a card flashed again with other settings is set up again, and the same ones give the same id.
 */
export function metaData(config: FlashConfig, userDataText: string, networkConfigText: string): string {
  const digest = createHash('sha256')
    .update(userDataText)
    .update('\0')
    .update(networkConfigText)
    .digest('hex');
  return `# ${FLASH_MARKER}
instance-id: ${yamlString(`fleetkit-${config.hostname}-${digest.slice(0, 16)}`)}
local-hostname: ${yamlString(config.hostname)}
`;
}

export function cloudInitFiles(config: FlashConfig): Record<(typeof CLOUD_INIT_FILES)[number], string> {
  const user = userData(config);
  const network = networkConfig(config);
  return { 'user-data': user, 'network-config': network, 'meta-data': metaData(config, user, network) };
}
