import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { RawData, WebSocket } from 'ws';
import type { ApiKeyConfig, WsConfig } from '../config.js';
import { OfferloopError } from '../errors.js';
import { type ApiKeyAuth, credentialsOf } from '../http/auth.js';
import { decisionJson } from '../http/decision-json.js';
import { linkResultJson } from '../http/routes/identities.js';
import type { DecisionService } from '../service/decision-service.js';
import type { FeedbackService } from '../service/feedback-service.js';
import type { IdentityService } from '../service/identity-service.js';
import type { TriggerService } from '../service/trigger-service.js';
import {
  adviserTopic,
  agentTopic,
  CLOSE,
  type ClientMessage,
  clientMessageSchema,
  customerTopic,
  KEY_PROTOCOL_PREFIX,
  PROTOCOL,
  parseClientMessage,
} from './protocol.js';
import type { PushHub } from './push-hub.js';
import { WsSession } from './ws-session.js';

export interface WsGatewayDeps {
  readonly auth: ApiKeyAuth;
  readonly decisions: DecisionService;
  readonly feedback: FeedbackService;
  readonly identities: IdentityService;
  readonly triggers: TriggerService;
  readonly hub: PushHub;
  readonly config: WsConfig;
  readonly log: Logger;
}

/** Over the rate limit this many messages in a row, a client is not slowing down: close it. */
const MAX_REFUSED_IN_A_ROW = 20;
/**
 * The heartbeat runs this often and pings its share of the sessions each time, so every session is
 * pinged once per interval without one loop over 10,000 sockets stalling pushes for 300 ms
 * (bench:ops:channels saw exactly that).
 */
const HEARTBEAT_TICK_MS = 100;
/** On shutdown, sockets that have not finished the close handshake by then are terminated. */
const CLOSE_GRACE_MS = 1000;

/**
 * The WebSocket gateway at /v1/ws (docs/channels.md): authenticates at the upgrade, speaks the
 * JSON protocol of protocol.ts, keeps sessions alive with pings, and closes them on shutdown.
 */
export class WsGateway {
  private readonly sessions = new Set<WsSession>();
  /** Open sessions per API key (the key itself), for OFFERLOOP_WS_MAX_SESSIONS_PER_KEY. */
  private readonly perKey = new Map<string, number>();
  private heartbeat: NodeJS.Timeout | null = null;
  /** Where the heartbeat goes on at its next tick; a Set's iterator survives deletions. */
  private heartbeatCursor: Iterator<WsSession> | null = null;
  /** Fractional pings carried to the next tick, so that each session is pinged once per heartbeat. */
  private pingsOwed = 0;
  private closing = false;

  private constructor(private readonly deps: WsGatewayDeps) {}

  /** Registers @fastify/websocket and the routes; call before any other route is added. */
  static async register(app: FastifyInstance, deps: WsGatewayDeps): Promise<WsGateway> {
    const gateway = new WsGateway(deps);
    await app.register(websocket, {
      options: {
        maxPayload: deps.config.maxMessageBytes,
        perMessageDeflate: false,
        // Never echo the key-bearing subprotocol: the answer names the protocol, or none.
        handleProtocols: (offered: Set<string>) => (offered.has(PROTOCOL) ? PROTOCOL : false),
      },
      // A client that vanishes mid-frame is routine on the internet, not an error to page anyone about.
      errorHandler: (error, socket) => {
        deps.log.debug({ err: error }, 'websocket error');
        socket.terminate();
      },
      preClose: (done) => {
        gateway.close().then(() => app.websocketServer.close(() => done()));
      },
    });
    app.get(
      '/v1/ws',
      { websocket: true, onRequest: gateway.authenticate },
      (socket: WebSocket, request: FastifyRequest) => gateway.open(socket, request),
    );
    app.get(
      '/v1/ws/schema',
      {
        onRequest: deps.auth.require(null),
        schema: {
          summary: 'The JSON Schema of WebSocket client messages',
          tags: ['channels'],
          security: [{ apiKey: [] }],
        },
      },
      async () => clientMessageSchema,
    );
    const tickMs = Math.min(HEARTBEAT_TICK_MS, deps.config.heartbeatMs / 4);
    gateway.heartbeat = setInterval(() => gateway.beat(tickMs / deps.config.heartbeatMs), tickMs).unref();
    return gateway;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** No socket is opened without a valid key with the `decide` scope, from an allowed origin. */
  private readonly authenticate = (
    request: FastifyRequest,
    _reply: unknown,
    done: (err?: Error) => void,
  ): void => {
    const outcome = this.closing
      ? new OfferloopError('shutting_down', 503, 'server is shutting down')
      : this.keyOf(request);
    if (outcome instanceof OfferloopError) {
      done(outcome);
      return;
    }
    if (this.atSessionLimit(outcome)) {
      done(
        new OfferloopError(
          'too_many_sessions',
          429,
          `this API key already holds ${this.deps.config.maxSessionsPerKey} WebSocket sessions on this server`,
        ),
      );
      return;
    }
    request.apiKey = outcome;
    done();
  };

  private atSessionLimit(key: ApiKeyConfig): boolean {
    return (this.perKey.get(key.key) ?? 0) >= this.deps.config.maxSessionsPerKey;
  }

  private keyOf(request: FastifyRequest): ApiKeyConfig | OfferloopError {
    const credentials = credentialsOf(request, { browser: true });
    return this.deps.auth.check(
      'decide',
      { ...credentials, authorization: credentials.authorization ?? keyFromProtocols(request) },
      { browser: true },
    );
  }

  private open(socket: WebSocket, request: FastifyRequest): void {
    const key = request.apiKey!;
    // Upgrades of one key checked at the same time may all have passed authenticate().
    if (this.atSessionLimit(key)) {
      socket.close(CLOSE.tryAgainLater, 'too many sessions for this API key');
      return;
    }
    const session = new WsSession(socket, key, this.deps.config.sendBufferBytes, (s) => this.forget(s));
    this.sessions.add(session);
    this.perKey.set(key.key, (this.perKey.get(key.key) ?? 0) + 1);
    // Handlers are attached synchronously: a message that arrives before them would be lost.
    socket.on('pong', () => {
      session.alive = true;
    });
    socket.on('message', (data: RawData, isBinary: boolean) => {
      session.alive = true;
      if (isBinary) {
        socket.close(CLOSE.unsupportedData, 'the protocol is JSON text');
        return;
      }
      this.onMessage(session, data.toString());
    });
    socket.on('close', () => this.forget(session));
  }

  private onMessage(session: WsSession, text: string): void {
    const parsed = parseClientMessage(text);
    if (!parsed.ok) {
      this.answerError(session, parsed.id, 'invalid_request', parsed.message);
      return;
    }
    const message = parsed.message;
    const wait = this.deps.auth.takeMessage(session.key);
    if (wait > 0) {
      if (++session.refusedInARow >= MAX_REFUSED_IN_A_ROW) {
        session.socket.close(CLOSE.policy, 'rate limit exceeded');
        return;
      }
      this.answerError(session, message.id, 'rate_limited', `rate limit exceeded: retry after ${wait} ms`);
      return;
    }
    session.refusedInARow = 0;
    this.handle(session, message).then(
      (result) => session.send(`{"type":"result","id":${JSON.stringify(message.id)},"result":${result}}`),
      (err: unknown) => {
        if (err instanceof OfferloopError) {
          this.answerError(session, message.id, err.code, err.message);
          return;
        }
        this.deps.log.error({ err, messageType: message.type }, 'websocket message failed');
        this.answerError(session, message.id, 'internal', 'internal server error');
      },
    );
  }

  /** The JSON of a request's result. */
  private async handle(session: WsSession, message: ClientMessage): Promise<string> {
    switch (message.type) {
      case 'subscribe':
      case 'unsubscribe': {
        const topic =
          message.agentId !== undefined
            ? agentTopic(message.agentId)
            : message.adviserId !== undefined
              ? adviserTopic(message.adviserId)
              : customerTopic(message.customerId!);
        if (message.type === 'unsubscribe') {
          session.topics.delete(topic);
          this.deps.hub.unsubscribe(topic, session);
        } else if (!session.topics.has(topic)) {
          if (session.topics.size >= this.deps.config.maxSubscriptions) {
            throw new OfferloopError(
              'too_many_subscriptions',
              400,
              `a session may hold at most ${this.deps.config.maxSubscriptions} subscriptions`,
            );
          }
          session.topics.add(topic);
          this.deps.hub.subscribe(topic, session);
        }
        return JSON.stringify({ topic });
      }
      case 'decide':
        return decisionJson(await this.deps.decisions.decide(message.request));
      case 'feedback':
        if (!session.key.scopes.has('feedback')) {
          throw new OfferloopError('forbidden', 403, "this API key lacks the 'feedback' scope");
        }
        return JSON.stringify(await this.deps.feedback.record(message.events));
      case 'identify':
        if (!session.key.scopes.has('feedback')) {
          throw new OfferloopError('forbidden', 403, "this API key lacks the 'feedback' scope");
        }
        return JSON.stringify(
          linkResultJson(await this.deps.identities.link(message.anonymousId, message.customerId)),
        );
      case 'events':
        return JSON.stringify({ results: await this.deps.triggers.record(message.events) });
      case 'ping':
        return '{}';
    }
  }

  private answerError(session: WsSession, id: string | null, code: string, message: string): void {
    session.send(JSON.stringify({ type: 'error', id, error: { code, message } }));
  }

  /** Pings a `share` of the sessions, going on where the last tick stopped; one that did not answer its previous ping is gone. */
  private beat(share: number): void {
    // Pings owed accumulate across ticks: rounding each tick's share up would ping a lone session
    // every tick (100 ms), and terminate it whenever a busy client took longer than that to pong.
    this.pingsOwed += this.sessions.size * share;
    const slice = Math.floor(this.pingsOwed);
    this.pingsOwed -= slice;
    for (let i = 0; i < slice; i++) {
      let next = this.heartbeatCursor?.next();
      if (next === undefined || next.done) {
        this.heartbeatCursor = this.sessions.values();
        next = this.heartbeatCursor.next();
        if (next.done) return;
      }
      const session = next.value;
      if (!session.alive) {
        session.socket.terminate();
        this.forget(session);
        continue;
      }
      session.alive = false;
      session.socket.ping();
    }
  }

  private forget(session: WsSession): void {
    if (!this.sessions.delete(session)) return;
    const left = (this.perKey.get(session.key.key) ?? 1) - 1;
    if (left > 0) this.perKey.set(session.key.key, left);
    else this.perKey.delete(session.key.key);
    for (const topic of session.topics) this.deps.hub.unsubscribe(topic, session);
    session.topics.clear();
  }

  /** Closes every session with 1001 and waits (briefly) for the handshakes. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    const closed = [...this.sessions].map(
      (session) =>
        new Promise<void>((resolve) => {
          const { socket } = session;
          if (socket.readyState === socket.CLOSED) return resolve();
          const timer = setTimeout(() => {
            socket.terminate();
            resolve();
          }, CLOSE_GRACE_MS);
          socket.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          socket.close(CLOSE.goingAway, 'server shutting down');
        }),
    );
    await Promise.all(closed);
  }
}

/** The key of a browser client, sent as the subprotocol `bearer.<base64url(key)>`, as a header value. */
function keyFromProtocols(request: FastifyRequest): string | undefined {
  const header = request.headers['sec-websocket-protocol'];
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(',')) {
    const protocol = part.trim();
    if (protocol.startsWith(KEY_PROTOCOL_PREFIX)) {
      return `Bearer ${Buffer.from(protocol.slice(KEY_PROTOCOL_PREFIX.length), 'base64url').toString('utf8')}`;
    }
  }
  return undefined;
}
