// A process that registers one instance and serves its /health, then waits to be killed. Tests kill it
// with SIGKILL to see each store's liveness model remove (or mark critical) what it left behind.
// argv[2]: JSON { options: RegistryOptions, spec: InstanceSpec without port }
import { createServer } from 'node:http';
import { createRegistry } from '../../lib/registry/index.ts';

const { options, spec } = JSON.parse(process.argv[2] ?? '{}');
const server = createServer((req, res) => {
  res.writeHead(req.url === '/health' ? 200 : 404, { 'content-type': 'text/plain' });
  res.end(req.url === '/health' ? 'ok' : 'not found');
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const registry = createRegistry(options);
  const registration = registry.register({ ...spec, port });
  registration.on('registered', () => process.stdout.write(`registered ${port}\n`));
  registration.on('conflict', (error) => process.stdout.write(`conflict ${error.message}\n`));
});
