// Consul's side of secure mode: ACLs with default deny in its config (the master and agent tokens are
// chosen by the kit), then, once it answers, the policies and the roles' tokens over the HTTP API.
// Reads are filtered, not refused: a token-less client sees empty lists.
import { CONSUL_POLICIES, type SecureLaunch } from './types.ts';

export function consulAclConfig(secure: SecureLaunch): Record<string, unknown> {
  const tokens = secure.folder.secrets.consul;
  return {
    acl: {
      enabled: true,
      default_policy: 'deny',
      // A partition from the leader keeps the cached answers rather than denying everything.
      down_policy: 'extend-cache',
      enable_token_persistence: true,
      tokens: { master: tokens.master, agent: tokens.agent },
    },
  };
}

/**
 * The narrowest rules that let each role do its work with the kit's adapters.
 * - device: register/deregister its service and pass its TTL check (service write: Consul's ACLs are
 *   per service NAME, and a device's service name is a setting, so every name); read the health of
 *   services (service + node read: /v1/health filters on both); read `<ns>/config/`; write its status
 *   entry under `<ns>/status/` (any device's: KV ACLs are per key prefix, and ids are settings).
 * - server: write `<ns>/` (config, and whatever else of the namespace), register audience devices
 *   (service write), read nodes and the agent (members), operator read (raft/autopilot health).
 * - agent: the Consul agent's own token: node write to sync its catalog entry, service read.
 */
export function consulPolicyRules(namespace: string): Record<string, string> {
  return {
    [CONSUL_POLICIES.device]: [
      'service_prefix "" { policy = "write" }',
      'node_prefix "" { policy = "read" }',
      `key_prefix "${namespace}/config/" { policy = "read" }`,
      // Its status entry (load, color): `<ns>/status/<service>/<id>` (docs/stores.md).
      `key_prefix "${namespace}/status/" { policy = "write" }`,
    ].join('\n'),
    [CONSUL_POLICIES.server]: [
      'service_prefix "" { policy = "write" }',
      'node_prefix "" { policy = "read" }',
      'agent_prefix "" { policy = "read" }',
      'operator = "read"',
      `key_prefix "${namespace}/" { policy = "write" }`,
    ].join('\n'),
    [CONSUL_POLICIES.agent]: [
      'node_prefix "" { policy = "write" }',
      'service_prefix "" { policy = "read" }',
    ].join('\n'),
  };
}

interface Answer {
  status: number;
  body: unknown;
  text: string;
}

async function call(
  base: string,
  method: string,
  route: string,
  token: string,
  signal: AbortSignal,
  body?: unknown,
): Promise<Answer> {
  const response = await fetch(`${base}${route}`, {
    method,
    headers: { 'X-Consul-Token': token, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.status, body: parsed, text };
}

function must(answer: Answer, what: string): Answer {
  if (answer.status !== 200)
    throw new Error(`Consul refused to ${what}: HTTP ${answer.status} ${answer.text.slice(0, 200)}`);
  return answer;
}

/**
 * Policies fleet-device, fleet-server, fleet-agent and the tokens with the kit's SecretIDs. Safe to run
 * again, and on every member of a cluster at once: a write that lost a race is read back and retried.
 */
export async function consulSecureSetup(
  base: string,
  secure: SecureLaunch,
  signal: AbortSignal,
): Promise<void> {
  const secrets = secure.folder.secrets.consul;
  const master = secrets.master;
  // This Consul has the kit's ACL config (its master token), else another Consul answers on the port
  // (a unit that did not start): nothing is written to it.
  await retried(async () => {
    const self = await call(base, 'GET', '/v1/acl/token/self', master, signal);
    if (self.status !== 200)
      throw new Error(
        `the Consul at ${base} does not take the kit's master token (HTTP ${self.status}: ${self.text.slice(0, 80)}): not the kit's, or started without --secure; nothing changed in it`,
      );
  });
  for (const [name, rules] of Object.entries(consulPolicyRules(secure.namespace))) {
    await retried(async () => {
      const existing = await call(
        base,
        'GET',
        `/v1/acl/policy/name/${encodeURIComponent(name)}`,
        master,
        signal,
      );
      const id = existing.status === 200 ? (existing.body as { ID?: string }).ID : undefined;
      const policy = { Name: name, Rules: rules, Description: `fleetkit ${name}` };
      must(
        await call(base, 'PUT', id ? `/v1/acl/policy/${id}` : '/v1/acl/policy', master, signal, policy),
        `write policy ${name}`,
      );
    });
  }
  const tokens = [
    [secrets.device, CONSUL_POLICIES.device],
    [secrets.server, CONSUL_POLICIES.server],
    [secrets.agent, CONSUL_POLICIES.agent],
  ] as const;
  for (const [secretId, policy] of tokens) {
    await retried(async () => {
      // Known already (a kept data dir): update it by its AccessorID; else create it with our SecretID.
      const self = await call(base, 'GET', '/v1/acl/token/self', secretId, signal);
      const accessor = self.status === 200 ? (self.body as { AccessorID?: string }).AccessorID : undefined;
      const token = { SecretID: secretId, Description: `fleetkit ${policy}`, Policies: [{ Name: policy }] };
      must(
        await call(
          base,
          'PUT',
          accessor ? `/v1/acl/token/${accessor}` : '/v1/acl/token',
          master,
          signal,
          accessor ? { ...token, AccessorID: accessor } : token,
        ),
        `write the ${policy} token`,
      );
    });
  }
}

/** How long a write is tried again: Consul 1.8 answers 500 "The ACL system is currently in legacy
 * mode" for a few seconds after its leader is elected; another member may have written the same policy
 * or token meanwhile. */
const RETRY_FOR_MS = 20_000;

/** Tried again every 250 ms for up to RETRY_FOR_MS; the last error is thrown. */
async function retried(write: () => Promise<void>): Promise<void> {
  const deadline = performance.now() + RETRY_FOR_MS;
  for (;;) {
    try {
      await write();
      return;
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}
