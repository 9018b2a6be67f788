import { registryContract } from '../contract.ts';

registryContract({ name: 'etcd', store: 'etcd', liveness: { leaseTtlSeconds: 2 } });
