// The fleetkit/ folder on the boot partition: the agent bundle, its unit and settings, Node.js, and the
// two scripts both first-boot styles share. install.sh (offline) puts them in place, Node.js included;
// setup.sh is the fallback at a boot with internet when the card has no Node.js that runs. Everything
// here is the same for the same settings.
import { agentAccount, agentAccountShell, installPaths, LED_RULES_FILE } from '../../device/unit.ts';
import { shellWord } from '../../lib/cli/shell-quote.ts';
import { parseEndpoints } from '../../lib/registry/index.ts';
import { MIN_NODE_MAJOR } from '../node/versions.ts';
import { credentialsInstallShell } from './credentials.ts';

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

/** The Node.js build on the card: its file name in fleetkit/ (with a .sha256 beside it). */
export interface CardNode {
  fileName: string;
  version: string;
}

export function installScript(node: CardNode | undefined): string {
  const on = installPaths();
  const unit = `${on.unitDir}/${on.unitName}`;
  return `#!/bin/sh
# Installs the fleetkit agent from this folder of the boot partition (${FLASH_MARKER}):
#   ${on.agent}, ${on.env}, ${unit},
#   Node.js from the card's build into ${on.nodeDir} (checked with sha256sum -c: no network needed),
#   and fleetkit-setup.service, the fallback that downloads Node.js at a boot with internet when the card
#   has none (or its build does not run on this Pi).
# Run by firstrun.sh (first boot, no network yet) or by cloud-init (with --start). Safe to run again.
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
NODE_BUILD=${node ? shellWord(node.fileName) : "''"}
NODE_DIR=${on.nodeDir}
log() { printf 'fleetkit install: %s\\n' "$*"; }
# The official Node.js builds link libatomic.so.1 (Debian's libatomic1), which Raspberry Pi OS has and a
# minimal Debian lacks: the card carries one for its build's architecture, installed only when node needs it.
LIBATOMIC=/usr/local/lib/libatomic.so.1
ldconfig_run() {
  if command -v ldconfig >/dev/null 2>&1; then ldconfig "$@"; else /sbin/ldconfig "$@"; fi
}
# node_out: what \`node --version\` printed (its error when it failed).
node_runs() { node_out=$("$1" --version 2>&1); }
# Its error names libatomic.so.1, or the loader's cache has none.
lacks_libatomic() {
  case "$1" in *libatomic.so.1*) return 0 ;; esac
  ! ldconfig_run -p 2>/dev/null | grep -q 'libatomic\\.so\\.1 '
}
install_libatomic() {
  if [ ! -f "$HERE/libatomic.so.1" ]; then
    log "this system has no libatomic.so.1, which Node.js needs, and the card carries none: install Debian's libatomic1"
    return 1
  fi
  if ! (cd "$HERE" && sha256sum -c --quiet libatomic.so.1.sha256); then
    log "libatomic.so.1 on the card does not match its checksum (a damaged card?): not installed"
    return 1
  fi
  install -d -m 755 /usr/local/lib &&
    install -m 644 "$HERE/libatomic.so.1" "$LIBATOMIC.fleetkit-new" &&
    mv -f "$LIBATOMIC.fleetkit-new" "$LIBATOMIC" &&
    ldconfig_run || return 1
  log "this system has no libatomic.so.1, which Node.js needs: installed the card's copy as $LIBATOMIC (ldconfig run)"
}
# --start (cloud-init, network up): start it now, where systemd runs (not in a chroot).
start_now() {
  if [ "$2" != "--start" ]; then return 0; fi
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl start --no-block "$1"
  else
    log "systemd is not running here (a chroot?): $1 starts at the next boot"
  fi
}
install -d -m 755 ${on.agentDir} ${on.configDir}
install -m 644 "$HERE/fleetkit-agent.mjs" ${on.agent}
install -m 755 "$HERE/setup.sh" ${on.agentDir}/setup.sh
install -m 644 "$HERE/agent.env" ${on.env}
install -m 644 "$HERE/fleetkit-agent.service" ${unit}
install -m 644 "$HERE/fleetkit-setup.service" ${on.unitDir}/fleetkit-setup.service
log "installed the agent in ${on.agentDir}, its settings in ${on.env}"
${agentAccountShell()}log "the agent runs as ${agentAccount()}; the LED through ${LED_RULES_FILE}"
${credentialsInstallShell()}
node_ok=
if [ -n "$NODE_BUILD" ] && [ -f "$HERE/$NODE_BUILD" ]; then
  if (cd "$HERE" && sha256sum -c --quiet "$NODE_BUILD.sha256"); then
    rm -rf "$NODE_DIR.fleetkit-new"
    mkdir -p "$NODE_DIR.fleetkit-new"
    # The official build as npm packs it (package/bin/node): the binary and its licence are all the agent needs.
    version=
    node_out=
    if tar -xzf "$HERE/$NODE_BUILD" -C "$NODE_DIR.fleetkit-new" --strip-components=1 package/bin/node package/LICENSE; then
      if node_runs "$NODE_DIR.fleetkit-new/bin/node"; then
        version=$node_out
      elif lacks_libatomic "$node_out" && install_libatomic; then
        if node_runs "$NODE_DIR.fleetkit-new/bin/node"; then
          version=$node_out
        else
          # Not what it lacked (another architecture?): the system is left as it was.
          rm -f "$LIBATOMIC"
          ldconfig_run || true
          log "Node.js still does not run with $LIBATOMIC ($node_out): removed it again"
        fi
      fi
    fi
    if [ -n "$version" ]; then
      rm -rf "$NODE_DIR.fleetkit-old"
      if [ -e "$NODE_DIR" ] || [ -L "$NODE_DIR" ]; then mv "$NODE_DIR" "$NODE_DIR.fleetkit-old"; fi
      mv "$NODE_DIR.fleetkit-new" "$NODE_DIR"
      rm -rf "$NODE_DIR.fleetkit-old"
      node_ok=1
      log "installed Node.js $version from the card ($NODE_BUILD) in $NODE_DIR"
    else
      rm -rf "$NODE_DIR.fleetkit-new"
      log "$NODE_BUILD does not run on this Pi (a 64-bit build on a 32-bit system?$(printf '%s\\n' "$node_out" | sed -n '1s/^/ It said: /p')): fleetkit-setup.service downloads one"
    fi
  else
    log "$NODE_BUILD does not match its checksum (a damaged card?): fleetkit-setup.service downloads Node.js instead"
  fi
elif [ -n "$NODE_BUILD" ]; then
  log "$NODE_BUILD is not on the card: fleetkit-setup.service downloads Node.js"
fi

if [ -n "$node_ok" ]; then
  systemctl disable fleetkit-setup.service >/dev/null 2>&1 || true
  systemctl enable fleetkit-agent.service
  log "the agent starts with ${on.node}"
  start_now fleetkit-agent.service "\${1:-}"
else
  systemctl enable fleetkit-setup.service
  log "fleetkit-setup.service installs Node.js at a boot with internet, then starts the agent"
  start_now fleetkit-setup.service "\${1:-}"
fi
`;
}

/**
 * The fallback when the card has no Node.js that runs: at a boot with internet, a node of the Pi's own
 * that is new enough is linked, else the official build is downloaded from nodejs.org (its SHASUMS256.txt
 * checked) into /opt/fleetkit/node. `dist` is nodejs.org's folder: v22.11.0, or latest-v22.x.
 */
export function setupScript(dist: string): string {
  const on = installPaths();
  return `#!/bin/sh
# fleetkit-setup.service (${FLASH_MARKER}): the fallback when the card brought no Node.js that runs here.
# At a boot with internet: links the Pi's own node when it is ${MIN_NODE_MAJOR} or newer, else downloads the
# official build from nodejs.org (checked against its SHASUMS256.txt) into ${on.nodeDir}; then enables and
# starts the agent and turns itself off. Until then it tries again every minute. Log: journalctl -u fleetkit-setup
NODE_DIST=${shellWord(dist)}
# Another mirror of nodejs.org/dist (a proxy, a local copy): Environment=FLEETKIT_NODE_MIRROR=... in
# \`systemctl edit fleetkit-setup\`.
NODE_MIRROR=\${FLEETKIT_NODE_MIRROR:-https://nodejs.org/dist}
NODE_DIR=${on.nodeDir}
MIN_MAJOR=${MIN_NODE_MAJOR}
log() { printf 'fleetkit setup: %s\\n' "$*"; }
major_of() { "$1" --version 2>/dev/null | sed -n 's/^v\\([0-9][0-9]*\\)\\..*/\\1/p'; }
fetch() {
  if command -v curl >/dev/null 2>&1; then curl -fsSL --max-time 600 -o "$2" "$1"
  else wget -q -T 60 -O "$2" "$1"; fi
}

have=$(major_of "$NODE_DIR/bin/node")
if [ -z "$have" ] || [ "$have" -lt "$MIN_MAJOR" ]; then
  own=$(command -v node 2>/dev/null || true)
  own_major=
  if [ -n "$own" ]; then own_major=$(major_of "$own"); fi
  if [ -n "$own_major" ] && [ "$own_major" -ge "$MIN_MAJOR" ]; then
    mkdir -p "$NODE_DIR/bin"
    ln -sfn "$(readlink -f "$own")" "$NODE_DIR/bin/node"
    log "linked this Pi's own node ($own, $("$own" --version)) as $NODE_DIR/bin/node"
  else
    case $(dpkg --print-architecture 2>/dev/null || uname -m) in
      arm64 | aarch64) arch=arm64 ;;
      armhf | armv7l) arch=armv7l ;;
      amd64 | x86_64) arch=x64 ;;
      *)
        log "no official Node.js build for $(dpkg --print-architecture 2>/dev/null || uname -m) (a Pi 1 or Zero, armv6?): install Node.js $MIN_MAJOR or newer as $NODE_DIR/bin/node yourself"
        exit 1
        ;;
    esac
    base="$NODE_MIRROR/$NODE_DIST"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    log "downloading Node.js ($NODE_DIST, linux-$arch) from $NODE_MIRROR"
    if ! fetch "$base/SHASUMS256.txt" "$work/SHASUMS256.txt"; then
      log "$NODE_MIRROR is not reachable (no internet yet?): trying again in a minute"
      exit 1
    fi
    line=$(grep -E "  node-v[0-9]+\\.[0-9]+\\.[0-9]+-linux-$arch\\.tar\\.gz$" "$work/SHASUMS256.txt" | head -n 1)
    file=\${line##* }
    if [ -z "$file" ]; then
      log "nodejs.org has no linux-$arch build in $NODE_DIST"
      exit 1
    fi
    if ! fetch "$base/$file" "$work/$file"; then
      log "could not download $base/$file: trying again in a minute"
      exit 1
    fi
    if ! (cd "$work" && printf '%s\\n' "$line" | sha256sum -c --quiet -); then
      log "$file does not match nodejs.org's SHASUMS256.txt: not installed, trying again in a minute"
      exit 1
    fi
    rm -rf "$NODE_DIR.fleetkit-new"
    mkdir -p "$NODE_DIR.fleetkit-new"
    tar -xzf "$work/$file" -C "$NODE_DIR.fleetkit-new" --strip-components=1
    rm -rf "$NODE_DIR.fleetkit-old"
    if [ -e "$NODE_DIR" ] || [ -L "$NODE_DIR" ]; then mv "$NODE_DIR" "$NODE_DIR.fleetkit-old"; fi
    mv "$NODE_DIR.fleetkit-new" "$NODE_DIR"
    rm -rf "$NODE_DIR.fleetkit-old"
    log "installed $file in $NODE_DIR"
  fi
fi
if [ -z "$(major_of "$NODE_DIR/bin/node")" ]; then
  log "$NODE_DIR/bin/node does not run: trying again in a minute"
  exit 1
fi
systemctl daemon-reload
systemctl enable --now fleetkit-agent.service
systemctl disable fleetkit-setup.service
log "the agent runs on Node.js $("$NODE_DIR/bin/node" --version) ($NODE_DIR/bin/node): done"
`;
}

export function setupUnit(): string {
  return `# ${FLASH_MARKER}: the fallback when the card brought no Node.js: downloads it, then starts the agent (setup.sh).
[Unit]
Description=fleetkit setup (downloads Node.js for the agent when the card had none, then starts the agent)
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
