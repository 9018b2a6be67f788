// A phone as the phone's page (server/phone/main.ts) behaves, as a socket.io client: joins, beats every
// heartbeat (with a load when given), applies and reports the color it is told; flight mode is a
// silence. For the audience tests and the stage's screenshots.
import { Agent } from 'node:http';
import { io, type Socket } from 'socket.io-client';
import { AUDIENCE_NAMESPACE, type JoinAnswer, type PhoneView } from '../../server/audience-contract.ts';
import type { Ack, BrowserLoad } from '../../server/contract.ts';
import { eventually } from './eventually.ts';

/** A phone as its page behaves: joins, beats every heartbeat, applies the color it is told. */
export class TestPhone {
  answer: JoinAnswer | undefined;
  view: PhoneView | undefined;
  private beating: NodeJS.Timeout | undefined;

  /** The presenter removed it (event 'removed'): the reason told. */
  removed: string | undefined;
  /** Sent with every beat when set (the page sends its load every few beats). */
  load: BrowserLoad | undefined;

  private constructor(readonly socket: Socket) {
    socket.on('phone', (view: PhoneView) => {
      this.view = view;
      if (view.color) void this.request('applied', { color: view.color }).catch(() => undefined);
    });
    socket.on('removed', (message: { reason: string }) => {
      this.removed = message.reason;
      clearInterval(this.beating);
    });
  }

  /** `localAddress`: the phone's own address on loopback (127.x.y.z), for the joins' per-address limit. */
  static async connect(url: string, localAddress?: string): Promise<TestPhone> {
    const socket = io(new URL(AUDIENCE_NAMESPACE, url).href, {
      transports: ['websocket'],
      forceNew: true,
      ...(localAddress ? { agent: new Agent({ localAddress }) as never } : {}),
    });
    await eventually('the phone socket connected', () => socket.connected, { timeoutMs: 10_000 });
    return new TestPhone(socket);
  }

  async request<T>(event: string, payload: unknown = {}): Promise<Ack<T>> {
    return (await this.socket.timeout(10_000).emitWithAck(event, payload)) as Ack<T>;
  }

  async join(key?: string): Promise<Ack<JoinAnswer>> {
    const answer = await this.request<JoinAnswer>('join', key === undefined ? {} : { key });
    if (answer.ok) {
      this.answer = answer.data;
      clearInterval(this.beating);
      this.beating = setInterval(
        () => void this.request('beat', this.load ? { load: this.load } : {}).catch(() => undefined),
        answer.data.heartbeatMs,
      );
    }
    return answer;
  }

  /** Flight mode: no more beats, the connection cut without a goodbye. */
  silence(): void {
    clearInterval(this.beating);
    this.socket.disconnect();
  }

  close(): void {
    clearInterval(this.beating);
    this.socket.disconnect();
  }
}
