import { decisionJson } from '../http/decision-json.js';
import type { DecisionResult } from '../service/decision-result.js';
import type { TriggerPublisher, TriggerPush } from '../service/trigger-service.js';
import { adviserTopic, customerTopic, triggerPushJson } from './protocol.js';
import type { PushHub } from './push-hub.js';

/** Trigger pushes over WebSocket: to the customer's topic and the adviser's, on every server. */
export class WsTriggerPublisher implements TriggerPublisher {
  constructor(private readonly hub: PushHub) {}

  encode(push: TriggerPush, decision: DecisionResult): string {
    return triggerPushJson(push, decisionJson(decision));
  }

  publish(json: string, customerId: string | null, adviserId: string | null): number {
    const topics: string[] = [];
    if (customerId !== null) topics.push(customerTopic(customerId));
    if (adviserId !== null) topics.push(adviserTopic(adviserId));
    return topics.length === 0 ? 0 : this.hub.publish(topics, json);
  }
}
