import { registryContract } from '../contract.ts';

registryContract({
  name: 'consul (HTTP check)',
  store: 'consul',
  liveness: { consulCheck: 'http', checkIntervalSeconds: 1, checkTimeoutSeconds: 1 },
});
registryContract({
  name: 'consul (TTL check)',
  store: 'consul',
  liveness: { consulCheck: 'ttl', checkTtlSeconds: 2 },
});
