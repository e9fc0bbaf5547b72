/** Per-user data keys (crypto-shredding): infra/keyStore.ts keeps them wrapped in PostgreSQL. */
export interface KeyStore {
  /** Creates the user's key if it has none yet; returns the key. */
  create(userId: string): Promise<Buffer>;
  /**
   * Creates the keys (and references) of many users at once, as `create` does for one; a
   * destroyed key stays destroyed. For bulk imports: one round trip for a whole chunk.
   */
  createMany(userIds: readonly string[]): Promise<void>;
  /**
   * Loads into the cache, in one round trip, the keys of these users and the users of these
   * references: a batch of events to decode then needs no lookup of its own per user.
   */
  warm(userIds: readonly string[], refs: readonly string[]): Promise<void>;
  /** The user's key; null when it never existed or was destroyed. */
  get(userId: string): Promise<Buffer | null>;
  /** Destroys the key for good (idempotent). */
  destroy(userId: string): Promise<void>;
  forget(userId: string): void;
  /**
   * The key's reference: a random id that stands for the user where the user id must not
   * appear in clear (PSEUDONYMOUS events). Created on first use; null once the key is gone.
   */
  refOf(userId: string): Promise<string | null>;
  /** The user a reference stands for; null once their key is destroyed. */
  userOfRef(ref: string): Promise<string | null>;
}
