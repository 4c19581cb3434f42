import { describe, expect, it } from 'vitest';
import { PushHub, type PushTarget } from './push-hub.js';

class Inbox implements PushTarget {
  readonly got: string[] = [];
  constructor(private readonly open = true) {}
  deliver(frame: Buffer): boolean {
    if (this.open) this.got.push(frame.toString());
    return this.open;
  }
}

describe('PushHub', () => {
  it('delivers to the listeners of a topic, once per listener even when it listens to two topics of the push', () => {
    const hub = new PushHub();
    const desk = new Inbox();
    const app = new Inbox();
    const other = new Inbox();
    hub.subscribe('agent:a-1', desk);
    hub.subscribe('customer:c-1', desk);
    hub.subscribe('customer:c-1', app);
    hub.subscribe('agent:a-2', other);
    expect(hub.publish(['agent:a-1', 'customer:c-1'], 'call')).toBe(2);
    expect(desk.got).toEqual(['call']);
    expect(app.got).toEqual(['call']);
    expect(other.got).toEqual([]);
  });

  it('forgets a listener that unsubscribed, and a topic nobody listens to', () => {
    const hub = new PushHub();
    const desk = new Inbox();
    hub.subscribe('agent:a-1', desk);
    hub.unsubscribe('agent:a-1', desk);
    expect(hub.publish(['agent:a-1'], 'call')).toBe(0);
    expect(desk.got).toEqual([]);
    expect(hub.size).toBe(0);
  });

  it('counts only listeners that took the push, and forwards every push to the other servers', () => {
    const hub = new PushHub();
    const forwarded: string[] = [];
    hub.forwardTo((topics, message) => forwarded.push(`${topics.join('+')}=${message}`));
    hub.subscribe('agent:a-1', new Inbox(false));
    hub.subscribe('agent:a-1', new Inbox(true));
    expect(hub.publish(['agent:a-1'], 'call')).toBe(1);
    expect(hub.publish(['agent:nobody'], 'x')).toBe(0);
    expect(forwarded).toEqual(['agent:a-1=call', 'agent:nobody=x']);
    // What arrives from another server is delivered here and not forwarded again.
    expect(hub.deliverLocally(['agent:a-1'], Buffer.from('remote'))).toBe(1);
    expect(forwarded).toHaveLength(2);
  });
});
