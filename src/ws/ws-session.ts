import type { WebSocket } from 'ws';
import type { ApiKeyConfig } from '../config.js';
import type { PushTarget } from './push-hub.js';

/**
 * One open socket: who it is (the key it authenticated with), what it listens to, and a send that
 * never lets more than `sendBufferBytes` pile up. A client that stops reading would otherwise make
 * the server hold every push for it; past the limit it is terminated (a close frame would only queue
 * behind the backlog), so memory per connection stays flat.
 */
export class WsSession implements PushTarget {
  readonly topics = new Set<string>();
  /** Answered the last ping (or sent anything) since the previous heartbeat. */
  alive = true;
  /** Messages refused in a row for the rate limit; too many and the session is closed. */
  refusedInARow = 0;

  constructor(
    readonly socket: WebSocket,
    readonly key: ApiKeyConfig,
    private readonly sendBufferBytes: number,
    private readonly onOverflow: (session: WsSession) => void,
  ) {}

  deliver(frame: Buffer): boolean {
    return this.send(frame);
  }

  /** Sends a text frame; false when the socket is not open or was terminated for its backlog. */
  send(data: string | Buffer): boolean {
    if (this.socket.readyState !== this.socket.OPEN) return false;
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    if (this.socket.bufferedAmount + size > this.sendBufferBytes) {
      this.socket.terminate();
      this.onOverflow(this);
      return false;
    }
    this.socket.send(data, { binary: false });
    return true;
  }
}
