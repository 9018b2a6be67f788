import { registryContract } from '../contract.ts';

registryContract({ name: 'zookeeper', store: 'zookeeper', liveness: { sessionTimeoutMs: 2000 } });
