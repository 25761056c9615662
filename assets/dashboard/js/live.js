// Live updates: one graphql-ws connection per signed-in tab, one `buildStatusChanged`
// subscription feeding every view, and whatever else a view follows (a build's log).
//
// Nothing is missed across a dropped connection: graphql-ws reconnects by itself and sends
// each active subscription's `subscribe` message again with the *same* payload object, so the
// status subscription keeps `payload.variables.after` at the last event it received; the
// service replays what happened meanwhile (`afterEventId`), then continues live. The first
// `after` is the newest event visible when the tab signed in (START), so changes between
// that answer and the subscription are replayed too. Nothing polls.

import { createClient } from 'graphql-ws';
import { endpoint } from './api.js';
import { STATUS_CHANGES } from './queries.js';

/** Close codes after which reconnecting cannot help: the credentials were refused. */
const REFUSED = new Set([4401, 4403]);

/** Waits before reconnection attempt `retries` (0, 1, …): quick at first, then at most 30 s. */
function backoff(retries) {
  const delay = Math.min(30_000, 500 * 2 ** retries) + Math.random() * 500;
  return new Promise((resolve) => setTimeout(resolve, delay));
}

export class Live {
  /**
   * Connects with `token`. `onState('connecting' | 'live' | 'reconnecting' | 'stopped')`
   * follows the socket ('stopped': closed for good by an error that reconnecting cannot fix);
   * `onRefused(error)` runs when the service refuses the credentials (a revoked token).
   */
  constructor(token, { onState, onRefused }) {
    const url = endpoint();
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    this.stopped = false;
    this.listeners = new Set();
    this.seen = new Set();
    this.onState = onState;
    this.onRefused = onRefused;
    this.client = createClient({
      url: url.href,
      connectionParams: () => ({ authorization: `Bearer ${token}` }),
      lazy: false,
      retryAttempts: Infinity,
      retryWait: backoff,
      shouldRetry: (event) => !REFUSED.has(event?.code),
      onNonLazyError: (error) => this.ended(error),
      on: {
        connecting: (isRetry) => this.stopped || onState(isRetry ? 'reconnecting' : 'connecting'),
        connected: () => this.stopped || onState('live'),
        closed: (event) => {
          if (this.stopped) return;
          if (!REFUSED.has(event?.code)) onState('reconnecting');
        },
      },
    });
  }

  /** Follows every status change after event `after` (null: from now on). */
  follow(after) {
    const payload = { query: STATUS_CHANGES, variables: { after: after ?? null } };
    this.unfollow = this.client.subscribe(payload, {
      next: ({ data, errors }) => {
        if (errors?.length) return console.error('buildStatusChanged', errors);
        const event = data.buildStatusChanged;
        // Resume after this event if the connection drops (see the module comment).
        payload.variables.after = event.eventId;
        if (this.seen.has(event.eventId)) return;
        this.remember(event.eventId);
        for (const listener of [...this.listeners]) listener(event);
      },
      error: (error) => this.ended(error),
      complete: () => {},
    });
  }

  /** Calls `listener(event)` for every status change; returns the function that stops it. */
  on(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Another subscription on the same connection: graphql-ws's `subscribe(payload, sink)`. */
  subscribe(payload, sink) {
    return this.client.subscribe(payload, sink);
  }

  stop() {
    this.stopped = true;
    this.unfollow?.();
    this.client.dispose();
  }

  remember(eventId) {
    this.seen.add(eventId);
    if (this.seen.size > 1000) this.seen.delete(this.seen.values().next().value);
  }

  /** The connection or the status subscription ended for good. */
  ended(error) {
    if (this.stopped) return;
    if (REFUSED.has(error?.code)) {
      this.stop();
      this.onRefused(error);
      return;
    }
    console.error('live updates stopped', error);
    this.onState('stopped');
  }
}
