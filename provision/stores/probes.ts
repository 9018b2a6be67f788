// Tiny readiness probes. No connection pooling: a pooled socket would outlive a store's restart.
import http from 'node:http';

export interface HttpAnswer {
  status: number;
  body: string;
}

/** GET `url`; rejects on connection errors and when `signal` aborts. */
export function httpGet(url: string, signal: AbortSignal): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false, signal }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

export { fourLetterWord, hostPort } from '../../lib/registry/index.ts';
