// The fleetkit/ folder on the boot partition: the agent bundle, its unit and settings, and the two scripts
// both first-boot styles share. install.sh (offline) puts them in place; setup.sh (at a boot with network)
// installs Node.js if needed and starts the agent. Everything here is the same for the same settings.
import { installPaths } from '../../device/unit.ts';
import { parseEndpoints } from '../../lib/registry/index.ts';

/** In every file `fleetkit flash` generates: how a later run (and firstrun.sh) knows a file is its own. */
export const FLASH_MARKER = 'written by fleetkit flash';
export const AGENT_DIR = 'fleetkit';

/** The agent's env file: the template from device/agent.env.example with the control host's stores. */
export function agentEnv(template: string, controlHost: string): string {
  const stores = {
    FLEET_ETCD: parseEndpoints('etcd', [controlHost])[0]!.address,
    FLEET_ZOOKEEPER: parseEndpoints('zookeeper', [controlHost])[0]!.address,
    FLEET_CONSUL: parseEndpoints('consul', [controlHost])[0]!.address,
  };
  let text = template.replace(/\r\n/g, '\n');
  for (const [name, value] of Object.entries(stores)) {
    const line = new RegExp(`^#?\\s*${name}=.*$`, 'm');
    text = line.test(text)
      ? text.replace(line, `${name}=${value}`)
      : `${text.replace(/\n?$/, '\n')}${name}=${value}\n`;
  }
  return `# ${FLASH_MARKER}: the stores of the control host ${controlHost}\n${text}`;
}

export function installScript(): string {
  const on = installPaths();
  const unit = `${on.unitDir}/${on.unitName}`;
  return `#!/bin/sh
# Installs the fleetkit agent from this folder of the boot partition (${FLASH_MARKER}):
#   ${on.agent}, ${on.env}, ${unit},
#   and fleetkit-setup.service, which at a boot with network installs Node.js if needed and starts the agent.
# Run by firstrun.sh (first boot, no network yet) or by cloud-init (with --start). Safe to run again.
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
install -d -m 755 ${on.agentDir} ${on.configDir}
install -m 644 "$HERE/fleetkit-agent.mjs" ${on.agent}
install -m 755 "$HERE/setup.sh" ${on.agentDir}/setup.sh
install -m 644 "$HERE/agent.env" ${on.env}
install -m 644 "$HERE/fleetkit-agent.service" ${unit}
install -m 644 "$HERE/fleetkit-setup.service" ${on.unitDir}/fleetkit-setup.service
systemctl enable fleetkit-setup.service
echo "fleetkit: installed the agent in ${on.agentDir}, its settings in ${on.env}, and fleetkit-setup.service"
if [ "\${1:-}" = "--start" ]; then
  systemctl daemon-reload
  systemctl start --no-block fleetkit-setup.service
fi
`;
}

export function setupScript(nodeMajor: number): string {
  return `#!/bin/sh
# fleetkit-setup.service (${FLASH_MARKER}): at a boot with network, installs Node.js ${nodeMajor} when
# node is missing or older, then enables and starts the agent. It turns itself off once Node.js is new
# enough; until then it runs again at every boot. Log: journalctl -u fleetkit-setup
NODE_MAJOR=${nodeMajor}
log() { printf 'fleetkit setup: %s\\n' "$*"; }
node_major() { node --version 2>/dev/null | sed -n 's/^v\\([0-9][0-9]*\\)\\..*/\\1/p'; }
export DEBIAN_FRONTEND=noninteractive
# A Pi has no clock battery: until NTP answers, its date may be older than the archives' signatures.
APT="apt-get -o DPkg::Lock::Timeout=300 -o Acquire::Check-Date=false"

have=$(node_major)
if [ -z "$have" ] || [ "$have" -lt "$NODE_MAJOR" ]; then
  log "Node.js \${have:-is missing}\${have:+ is older than $NODE_MAJOR}: installing Node.js"
  mkdir -p /etc/apt/keyrings
  if command -v curl >/dev/null 2>&1 &&
    curl -fsSL --max-time 60 -o /etc/apt/keyrings/nodesource.asc.partial \\
      https://deb.nodesource.com/gpgkey/nodesource-repo.gpg.key; then
    mv /etc/apt/keyrings/nodesource.asc.partial /etc/apt/keyrings/nodesource.asc
    echo "deb [signed-by=/etc/apt/keyrings/nodesource.asc] https://deb.nodesource.com/node_$NODE_MAJOR.x nodistro main" \\
      >/etc/apt/sources.list.d/nodesource.list
    log "using NodeSource's Node.js $NODE_MAJOR (deb.nodesource.com)"
  else
    rm -f /etc/apt/keyrings/nodesource.asc.partial
    log "deb.nodesource.com is not reachable: installing Debian's nodejs (Node.js 18 on Bookworm, older than $NODE_MAJOR)"
  fi
  $APT update || log "apt-get update failed"
  $APT install -y nodejs || log "apt-get install nodejs failed"
  have=$(node_major)
fi
if [ -z "$have" ]; then
  log "still no Node.js (no network, or no mirror?): trying again in a minute"
  exit 1
fi
systemctl daemon-reload
systemctl enable --now fleetkit-agent.service
if [ "$have" -lt "$NODE_MAJOR" ]; then
  log "started the agent on Node.js $have, older than it needs ($NODE_MAJOR): trying NodeSource again at the next boot"
  exit 0
fi
systemctl disable fleetkit-setup.service
log "the agent runs on Node.js $(node --version): done"
`;
}

export function setupUnit(): string {
  return `# ${FLASH_MARKER}: installs Node.js for the fleetkit agent if needed, then starts it (setup.sh).
[Unit]
Description=fleetkit first-boot setup (Node.js for the agent, then the agent)
Wants=network-online.target
After=network-online.target time-sync.target
# Keeps trying while there is no network: a Pi may boot long before the venue's Wi-Fi works.
StartLimitIntervalSec=0

[Service]
Type=oneshot
ExecStart=/bin/sh ${installPaths().agentDir}/setup.sh
Restart=on-failure
RestartSec=60
TimeoutStartSec=20min

[Install]
WantedBy=multi-user.target
`;
}
