import { decisionJson } from '../http/decision-json.js';
import type { CallPublisher, CallPush } from '../service/call-service.js';
import type { DecisionResult } from '../service/decision-result.js';
import { agentTopic, callPushJson, customerTopic } from './protocol.js';
import type { PushHub } from './push-hub.js';

/**
 * Call pushes over WebSocket: to the agent's topic and, once the caller is known, the customer's;
 * the JSON is written once for every session. The call service decides what to push, this how.
 */
export class WsCallPublisher implements CallPublisher {
  constructor(private readonly hub: PushHub) {}

  publish(push: CallPush, decision: DecisionResult | null): number {
    const topics =
      push.customerId === null
        ? [agentTopic(push.agentId)]
        : [agentTopic(push.agentId), customerTopic(push.customerId)];
    return this.hub.publish(topics, callPushJson(push, decision === null ? null : decisionJson(decision)));
  }
}
