/**
 * Where what-if runs are shared between servers (and the worker processes of one server), so that
 * `GET /v1/what-if/:id` answers on any of them, not only on the one that runs it. The embedded
 * store has one process and needs none.
 */
export interface WhatIfRunStore {
  /** Saves a run's status as JSON (replacing the last one), kept for a day. */
  put(id: string, json: string): Promise<void>;
  /** The last status saved; null for an unknown or expired run. */
  get(id: string): Promise<string | null>;
}
