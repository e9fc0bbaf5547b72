/**
 * The effective run-time settings on this instance: environment defaults overlaid with
 * the `settings` stream, kept current by the event subscription (so a change made on any
 * instance takes effect on every instance) and at once locally after a change.
 */
import type { SettingsValues } from '../domain/events.js';
import type { Decoded } from '../ports/events.js';

export class LiveSettings {
  readonly name = 'settings';
  readonly defaults: SettingsValues;
  #current: SettingsValues;
  #position = -1n;

  constructor(defaults: SettingsValues) {
    this.defaults = { ...defaults };
    this.#current = { ...defaults };
  }

  current(): SettingsValues {
    return this.#current;
  }

  /** Folds SettingsChanged events (in order; older positions than seen are ignored). */
  apply(events: readonly Decoded[]): void {
    for (const e of events) {
      if (e.type !== 'SettingsChanged' || e.position <= this.#position) continue;
      this.#position = e.position;
      const next = { ...this.#current };
      if (e.data.access_token_ttl_seconds !== undefined) next.access_token_ttl_seconds = e.data.access_token_ttl_seconds;
      if (e.data.refresh_token_ttl_seconds !== undefined) next.refresh_token_ttl_seconds = e.data.refresh_token_ttl_seconds;
      if (e.data.sliding_access_tokens !== undefined) next.sliding_access_tokens = e.data.sliding_access_tokens;
      if (e.data.refresh_reuse_grace_seconds !== undefined) next.refresh_reuse_grace_seconds = e.data.refresh_reuse_grace_seconds;
      this.#current = next;
    }
  }

  /** Set after a local change, before the subscription delivers it. */
  set(values: SettingsValues, position: bigint | null): void {
    this.#current = { ...values };
    if (position !== null && position > this.#position) this.#position = position;
  }
}
