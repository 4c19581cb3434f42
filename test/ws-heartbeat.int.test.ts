import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { demoWorld, listen, type TestServer, testServer } from './helpers.js';

// The heartbeat's pace with few sessions. Each tick pings a share of the sessions; rounding that
// share up pinged a lone session every tick (100 ms) instead of once per heartbeat, and terminated
// a browser that, busy for a moment, took longer than a tick to answer (the agent desktop's socket
// dropped mid-call in CI that way).

const HEARTBEAT_MS = 600;
let server: TestServer;
let url: string;

beforeAll(async () => {
  server = await testServer({
    OFFERLOOP_API_KEYS: 'desk-key=decide',
    ...demoWorld(10),
    OFFERLOOP_WS_HEARTBEAT_MS: String(HEARTBEAT_MS),
  });
  url = `ws://127.0.0.1:${await listen(server.app)}/v1/ws`;
});
afterAll(async () => {
  await server.close();
});

/** A client whose pongs take `pongDelayMs` to leave (null: never), counting the pings it gets. */
async function client(
  pongDelayMs: number | null,
): Promise<{ socket: WebSocket; pings: () => number; closed: () => boolean }> {
  const socket = new WebSocket(url, { headers: { authorization: 'Bearer desk-key' }, autoPong: false });
  let pings = 0;
  let closed = false;
  socket.on('ping', (data) => {
    pings++;
    if (pongDelayMs === null) return;
    setTimeout(() => {
      if (socket.readyState === WebSocket.OPEN) socket.pong(data);
    }, pongDelayMs);
  });
  socket.on('close', () => {
    closed = true;
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return { socket, pings: () => pings, closed: () => closed };
}

describe('the heartbeat with a single session', () => {
  it('pings it once per heartbeat, and keeps a client that answers within the heartbeat', async () => {
    // Pongs after 250 ms: more than a tick, well within the heartbeat.
    const slow = await client(250);
    await new Promise((r) => setTimeout(r, 3 * HEARTBEAT_MS + 200));
    expect(slow.closed()).toBe(false);
    // 3.3 heartbeats: 3 or 4 pings (a ping a tick would be about 20).
    expect(slow.pings()).toBeGreaterThanOrEqual(2);
    expect(slow.pings()).toBeLessThanOrEqual(5);
    slow.socket.close();
  });

  it('still terminates a client that does not answer at all', async () => {
    const silent = await client(null);
    await new Promise((r) => setTimeout(r, 3 * HEARTBEAT_MS + 200));
    expect(silent.closed()).toBe(true);
  });
});
