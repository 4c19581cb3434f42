import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { MemoryFeedbackLog } from '../src/feedback/log/memory-feedback-log.js';
import { demoWorld, listen, type TestServer, testServer } from './helpers.js';
import { TestWsClient } from './support/ws-client.js';

// The WebSocket gateway over real sockets with a real client (ws): refusals at the upgrade, the
// protocol, pushes on call events, heartbeats, the bounded send buffer, limits and shutdown.

const KEYS = [
  'desk-key=decide+feedback;origins=https://desk.example',
  'cti-key=decide',
  'report-key=report',
  'tight-key=decide;rate=3',
  'flood-key=decide;rate=5',
].join(',');

interface Running extends TestServer {
  url: string;
}

async function start(): Promise<Running> {
  const server = await testServer({
    OFFERLOOP_API_KEYS: KEYS,
    ...demoWorld(300),
    OFFERLOOP_WS_HEARTBEAT_MS: '300',
    OFFERLOOP_WS_SEND_BUFFER_BYTES: String(64 * 1024),
    OFFERLOOP_WS_MAX_MESSAGE_BYTES: '4096',
  });
  return { ...server, url: `ws://127.0.0.1:${await listen(server.app)}/v1/ws` };
}

let server: Running;
const clients: TestWsClient[] = [];
const open = async (options: Parameters<typeof TestWsClient.open>[1] = { key: 'desk-key' }) => {
  const client = await TestWsClient.open(server.url, options);
  clients.push(client);
  return client;
};
const call = (event: object) =>
  server.app.inject({
    method: 'POST',
    url: '/v1/interactions/calls',
    headers: { authorization: 'Bearer cti-key' },
    payload: event,
  });

beforeAll(async () => {
  server = await start();
});
afterAll(async () => {
  for (const c of clients) c.close();
  await server.close();
});

describe('opening a socket', () => {
  it('refuses the upgrade without a valid key with the decide scope, or from a foreign origin', async () => {
    await expect(open({})).rejects.toThrow('refused: 401');
    await expect(open({ key: 'wrong-key' })).rejects.toThrow('refused: 401');
    await expect(open({ key: 'report-key' })).rejects.toThrow('refused: 403');
    await expect(open({ key: 'desk-key', origin: 'https://evil.example' })).rejects.toThrow('refused: 403');
    const fromDesk = await open({ key: 'desk-key', origin: 'https://desk.example' });
    expect(fromDesk.socket.readyState).toBe(WebSocket.OPEN);
  });

  it('counts open sessions in readiness', async () => {
    const before = (await server.app.inject({ url: '/health/ready' })).json().websocketSessions as number;
    const client = await open();
    expect((await server.app.inject({ url: '/health/ready' })).json().websocketSessions).toBe(before + 1);
    client.close();
    await client.closed().catch(() => {});
    await new Promise((r) => setTimeout(r, 50));
    expect((await server.app.inject({ url: '/health/ready' })).json().websocketSessions).toBe(before);
  });

  it("takes a browser's key as a subprotocol and never echoes it back", async () => {
    const key = Buffer.from('desk-key').toString('base64url');
    const client = await open({ protocols: ['offerloop.v1', `bearer.${key}`] });
    expect(client.socket.protocol).toBe('offerloop.v1');
    await expect(
      open({ protocols: ['offerloop.v1', `bearer.${Buffer.from('nope').toString('base64url')}`] }),
    ).rejects.toThrow('refused: 401');
  });
});

describe('the protocol', () => {
  it('answers each request with its id: ping, subscribe, decide, feedback', async () => {
    const client = await open();
    expect(await client.request({ type: 'ping' })).toMatchObject({ type: 'result', result: {} });
    expect(await client.request({ type: 'subscribe', agentId: 'agent-1' })).toMatchObject({
      type: 'result',
      result: { topic: 'agent:agent-1' },
    });
    const decided = await client.request({
      type: 'decide',
      request: { customerId: 'cust-5', channel: 'sales_force', limit: 2 },
    });
    expect(decided.type).toBe('result');
    const decision = decided.result as {
      decisionId: string;
      customerId: string;
      offers: { offerId: string }[];
    };
    expect(decision.customerId).toBe('cust-5');
    expect(decision.offers.length).toBeGreaterThan(0);
    const event = {
      eventId: `ws-${decision.decisionId}`,
      decisionId: decision.decisionId,
      offerId: decision.offers[0]!.offerId,
      customerId: 'cust-5',
      type: 'accept',
    };
    const receipt = await client.request({ type: 'feedback', events: [event] });
    expect(receipt.result).toMatchObject({ accepted: 1, rejected: 0 });
    const log = server.services.feedbackLog as MemoryFeedbackLog;
    expect(log.entries().some((e) => e.kind === 'feedback' && e.event.eventId === event.eventId)).toBe(true);
  });

  it('answers bad messages with an error that names the problem, and keeps the socket open', async () => {
    const client = await open();
    client.socket.send('{not json');
    expect(await client.next((m) => m.type === 'error')).toMatchObject({
      id: null,
      error: { code: 'invalid_request', message: 'message is not valid JSON' },
    });
    const noChannel = await client.request({ type: 'decide', request: { customerId: 'cust-1' } });
    expect(noChannel.error).toEqual({
      code: 'invalid_request',
      message: "message.request must have required property 'channel'",
    });
    const both = await client.request({ type: 'subscribe', agentId: 'a', customerId: 'c' });
    expect(both.error?.message).toBe('message must name exactly one of agentId, customerId, adviserId');
    const unknown = await client.request({ type: 'launch' });
    expect(unknown.error?.message).toMatch(/^message.type must be one of: subscribe, unsubscribe, decide/);
    expect(await client.request({ type: 'ping' })).toMatchObject({ type: 'result' });
  });

  it('previews a decision: marked, no decision id, the same answer twice', async () => {
    const client = await open();
    const request = { customerId: 'cust-6', channel: 'web', preview: true };
    const first = (await client.request({ type: 'decide', request })).result as Record<string, unknown>;
    const second = (await client.request({ type: 'decide', request })).result as Record<string, unknown>;
    expect(first).toMatchObject({ preview: true, decisionId: null, customerId: 'cust-6' });
    expect((first.offers as unknown[]).length).toBeGreaterThan(0);
    expect(second.offers).toEqual(first.offers);
  });

  it('refuses feedback from a key without the feedback scope', async () => {
    const client = await open({ key: 'cti-key' });
    const answer = await client.request({
      type: 'feedback',
      events: [{ eventId: 'e', decisionId: 'd', offerId: 'o', customerId: 'c', type: 'click' }],
    });
    expect(answer.error?.code).toBe('forbidden');
  });

  it('limits subscriptions per session', async () => {
    const client = await open();
    for (let i = 0; i < 32; i++) {
      expect((await client.request({ type: 'subscribe', customerId: `c-${i}` })).type).toBe('result');
    }
    const over = await client.request({ type: 'subscribe', customerId: 'c-32' });
    expect(over.error?.code).toBe('too_many_subscriptions');
  });

  it("counts the upgrade and every message against the key's rate", async () => {
    const client = await open({ key: 'tight-key' });
    const answers = await Promise.all([1, 2, 3].map(() => client.request({ type: 'ping' })));
    expect(answers.map((a) => a.type)).toEqual(['result', 'result', 'error']);
    expect(answers[2]!.error?.code).toBe('rate_limited');
  });

  it('closes with 1008 a client that keeps sending over the rate limit', async () => {
    const client = await open({ key: 'flood-key' });
    for (let i = 0; i < 30; i++) client.socket.send(JSON.stringify({ type: 'ping', id: `p${i}` }));
    expect(await client.closed()).toBe(1008);
    expect(client.received.filter((m) => m.error?.code === 'rate_limited').length).toBeGreaterThanOrEqual(15);
  });

  it('closes with 1009 on a message over the size limit and 1003 on a binary frame', async () => {
    const big = await open();
    big.socket.send(JSON.stringify({ type: 'ping', id: 'x'.repeat(5000) }));
    expect(await big.closed()).toBe(1009);
    const binary = await open();
    binary.socket.send(Buffer.from([1, 2, 3]));
    expect(await binary.closed()).toBe(1003);
  });
});

describe('pushes on call events', () => {
  it("pushes call.started with dossier and offers to every session of the agent, and the customer's subscribers", async () => {
    const desk = await open();
    const secondScreen = await open();
    const app = await open();
    const otherAgent = await open();
    await desk.request({ type: 'subscribe', agentId: 'agent-7' });
    await secondScreen.request({ type: 'subscribe', agentId: 'agent-7' });
    await app.request({ type: 'subscribe', customerId: 'cust-42' });
    await otherAgent.request({ type: 'subscribe', agentId: 'agent-8' });

    const res = await call({
      type: 'call.started',
      callId: 'c-1',
      agentId: 'agent-7',
      customerId: 'cust-42',
    });
    expect(res.statusCode).toBe(200);
    const outcome = res.json() as { decisionId: string; sessions: number; offers: string[] };
    expect(outcome.sessions).toBe(3);
    const pushed = await desk.next((m) => m.type === 'call');
    expect(pushed).toMatchObject({
      event: 'call.started',
      callId: 'c-1',
      agentId: 'agent-7',
      customerId: 'cust-42',
      customerKnown: true,
      dossier: { customerId: 'cust-42' },
      decision: { decisionId: outcome.decisionId, channel: 'call_center' },
    });
    expect((pushed.decision as { offers: { offerId: string }[] }).offers.map((o) => o.offerId)).toEqual(
      outcome.offers,
    );
    expect((await secondScreen.next((m) => m.type === 'call')).callId).toBe('c-1');
    expect((await app.next((m) => m.type === 'call')).callId).toBe('c-1');
    await otherAgent.request({ type: 'ping' });
    expect(otherAgent.received.filter((m) => m.type === 'call')).toEqual([]);

    // Mid-call: the intent changes the decision; the offers shown at the start stay eligible (one call, one contact).
    await call({ type: 'call.context', callId: 'c-1', intent: 'card_issue', reason: 'lost my card' });
    const context = await desk.next((m) => m.type === 'call' && m.event === 'call.context');
    expect(context.context).toEqual({ intent: 'card_issue', reason: 'lost my card' });
    expect((context.decision as { offers: unknown[] }).offers.length).toBeGreaterThan(0);

    await call({ type: 'call.ended', callId: 'c-1' });
    expect(await desk.next((m) => m.type === 'call' && m.event === 'call.ended')).toMatchObject({
      callId: 'c-1',
    });
  });

  it('stops pushing to a session that unsubscribed', async () => {
    const desk = await open();
    await desk.request({ type: 'subscribe', agentId: 'agent-9' });
    await desk.request({ type: 'unsubscribe', agentId: 'agent-9' });
    const res = await call({
      type: 'call.started',
      callId: 'c-2',
      agentId: 'agent-9',
      customerId: 'cust-43',
    });
    expect(res.json()).toMatchObject({ sessions: 0 });
  });
});

describe('keeping connections healthy', () => {
  it('terminates a client that stopped reading once its send buffer is full, and keeps serving the others', async () => {
    const slow = await open();
    const fast = await open();
    await slow.request({ type: 'subscribe', agentId: 'agent-slow' });
    await fast.request({ type: 'subscribe', agentId: 'agent-slow' });
    slow.socket.pause();
    const push = `{"type":"call","event":"call.context","padding":"${'x'.repeat(4096)}"}`;
    let delivered = 2;
    let pushes = 0;
    // Kernel buffers take some MB before the server's own buffer grows; 50,000 pushes are 200 MB.
    // Every 4 pushes (16 KB) the reading client gets its turn on this thread.
    while (delivered === 2 && pushes < 50_000) {
      delivered = server.services.hub.publish(['agent:agent-slow'], push);
      pushes++;
      if (pushes % 4 === 0) await new Promise((r) => setTimeout(r, 0));
    }
    expect(delivered).toBe(1);
    expect(server.services.hub.publish(['agent:agent-slow'], '{"type":"call"}')).toBe(1);
    slow.socket.resume();
    expect(await slow.closed()).toBe(1006);
    expect(await fast.request({ type: 'ping' })).toMatchObject({ type: 'result' });
  });

  it('pings, and terminates a client that does not answer', async () => {
    const answering = await open();
    const silent = await new Promise<WebSocket>((resolve, reject) => {
      const socket = new WebSocket(server.url, {
        headers: { authorization: 'Bearer desk-key' },
        autoPong: false,
      });
      socket.once('open', () => resolve(socket));
      socket.once('error', reject);
    });
    const closed = new Promise<number>((resolve) => silent.once('close', resolve));
    expect(await closed).toBe(1006);
    expect(await answering.request({ type: 'ping' })).toMatchObject({ type: 'result' });
  });
});

describe('shutdown', () => {
  it('closes every socket with 1001', async () => {
    const own = await start();
    const a = await TestWsClient.open(own.url, { key: 'desk-key' });
    const b = await TestWsClient.open(own.url, { key: 'desk-key' });
    const codes = Promise.all([a.closed(), b.closed()]);
    await own.app.close();
    expect(await codes).toEqual([1001, 1001]);
    await own.services.close();
  });
});
