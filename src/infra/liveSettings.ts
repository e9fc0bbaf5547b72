/**
 * The effective run-time settings on this instance: environment defaults overlaid with
 * the `settings` stream, kept current by the event subscription (so a change made on any
 * instance takes effect on every instance) and at once locally after a change.
 */
import type { SettingsValues } from '../domain/events.js';
import { overlaySettings } from '../domain/settings/settings.js';
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
      this.#current = overlaySettings(this.#current, e.data);
    }
  }

  /** Set after a local change, before the subscription delivers it. */
  set(values: SettingsValues, position: bigint | null): void {
    this.#current = { ...values };
    if (position !== null && position > this.#position) this.#position = position;
  }
}
