/** Per-user data keys (crypto-shredding): infra/keyStore.ts keeps them wrapped in PostgreSQL. */
export interface KeyStore {
  /** Creates the user's key if it has none yet; returns the key. */
  create(userId: string): Promise<Buffer>;
  /** The user's key; null when it never existed or was destroyed. */
  get(userId: string): Promise<Buffer | null>;
  /** Destroys the key for good (idempotent). */
  destroy(userId: string): Promise<void>;
  forget(userId: string): void;
}
