import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from './helpers.js';
import {
  auth,
  FIXTURE_RECORDS,
  loadRecords,
  type OfferloopNode,
  type RedisTarget,
  redisDeployments,
  startNode,
} from './support/offerloop-node.js';
import { TestWsClient } from './support/ws-client.js';

// Channels across servers: an agent's desktop holds its socket on one server while telephony's
// events reach another. Pushes travel through Redis pub/sub, call state and phone numbers live in Redis.

describe.each(redisDeployments())('two servers on %s', (_name, makeTarget) => {
  let target: RedisTarget;
  let a: OfferloopNode;
  let b: OfferloopNode;
  let desk: TestWsClient;

  beforeAll(async () => {
    target = makeTarget();
    await loadRecords(target, [
      ...FIXTURE_RECORDS,
      { id: 'cust-loaded', attributes: { phone: '+1 555 777 0001' }, consent: { call_center: true } },
    ]);
    [a, b] = await Promise.all([startNode(target), startNode(target)]);
    const port = await listen(b.app);
    desk = await TestWsClient.open(`ws://127.0.0.1:${port}/v1/ws`, { key: 'agent-key' });
    await desk.request({ type: 'subscribe', agentId: 'agent-r' });
  });
  afterAll(async () => {
    desk?.close();
    await Promise.all([a?.close(), b?.close()]);
  });

  const call = (node: OfferloopNode, payload: object) =>
    node.app.inject({ method: 'POST', url: '/v1/interactions/calls', headers: auth('agent-key'), payload });

  it('pushes a call that reached server A to the desktop connected to server B, and B continues the call', async () => {
    const started = await call(a, {
      type: 'call.started',
      callId: 'r-1',
      agentId: 'agent-r',
      customerId: 'cust-1',
    });
    expect(started.statusCode).toBe(200);
    // No session on A: the push left A through Redis.
    expect(started.json()).toMatchObject({ sessions: 0, customerKnown: true });
    const pushed = await desk.next((m) => m.type === 'call' && m.callId === 'r-1');
    expect(pushed).toMatchObject({
      event: 'call.started',
      customerId: 'cust-1',
      dossier: { customerId: 'cust-1' },
    });
    expect((pushed.decision as { decisionId: string }).decisionId).toBe(started.json().decisionId);

    // The call state is in Redis: B knows the call A started, and A can end it again.
    const context = await call(b, { type: 'call.context', callId: 'r-1', intent: 'card_issue' });
    expect(context.statusCode).toBe(200);
    expect(context.json()).toMatchObject({ sessions: 1, customerId: 'cust-1' });
    expect(await desk.next((m) => m.type === 'call' && m.event === 'call.context')).toMatchObject({
      callId: 'r-1',
    });
    expect((await call(a, { type: 'call.ended', callId: 'r-1' })).statusCode).toBe(200);
    await desk.next((m) => m.type === 'call' && m.event === 'call.ended');
    expect((await call(b, { type: 'call.ended', callId: 'r-1' })).statusCode).toBe(404);
  });

  it('delivers a push once to a session, not again for its echo from Redis', async () => {
    const res = await call(b, {
      type: 'call.started',
      callId: 'r-2',
      agentId: 'agent-r',
      customerId: 'cust-2',
    });
    expect(res.json()).toMatchObject({ sessions: 1 });
    await desk.next((m) => m.type === 'call' && m.callId === 'r-2');
    await desk.request({ type: 'ping' });
    await new Promise((r) => setTimeout(r, 200));
    expect(desk.received.filter((m) => m.callId === 'r-2')).toEqual([]);
  });

  it('finds a caller by the phone number a bulk load wrote', async () => {
    const res = await call(a, {
      type: 'call.started',
      callId: 'r-5',
      agentId: 'agent-r',
      phone: '+1-555-777-0001',
    });
    expect(res.json()).toMatchObject({ customerId: 'cust-loaded', customerKnown: true });
  });

  it('finds a caller by the phone number written through another server', async () => {
    const put = await a.app.inject({
      method: 'PUT',
      url: '/v1/customers/cust-tel',
      headers: auth('admin-key'),
      payload: { attributes: { phone: '+1 555 123 4567' }, consent: { call_center: true } },
    });
    expect(put.statusCode).toBe(200);
    const res = await call(b, {
      type: 'call.started',
      callId: 'r-3',
      agentId: 'agent-r',
      phone: '(555) 123-4567',
    });
    // Numbers are matched as written, after separators are dropped: the country code matters.
    expect(res.json()).toMatchObject({ customerId: null });
    const full = await call(b, {
      type: 'call.started',
      callId: 'r-4',
      agentId: 'agent-r',
      phone: '+15551234567',
    });
    expect(full.json()).toMatchObject({ customerId: 'cust-tel', customerKnown: true });
  });
});
