// Tiny readiness probes. No connection pooling: a pooled socket would outlive a store's restart.
import http from 'node:http';
import https from 'node:https';

export interface HttpAnswer {
  status: number;
  body: string;
}

export interface HttpGetOptions {
  headers?: Record<string, string>;
  /** For https:// URLs: PEM text of the CA, and of the client certificate and key when the store wants one. */
  tls?: { ca: string; cert?: string; key?: string };
}

/** GET `url` (http or https); rejects on connection errors and when `signal` aborts. */
export function httpGet(url: string, signal: AbortSignal, options: HttpGetOptions = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const secure = url.startsWith('https:');
    const common = { agent: false as const, signal, headers: options.headers };
    const onResponse = (response: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      response.on('error', reject);
    };
    const request = secure
      ? https.get(url, { ...common, ...options.tls }, onResponse)
      : http.get(url, common, onResponse);
    request.on('error', reject);
  });
}

export { fourLetterWord, hostPort } from '../../lib/registry/index.ts';
