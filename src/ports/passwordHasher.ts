/** Password hashing (infra/passwordHasher.ts: argon2id; infra/passwords/: imported hashes). */
/** What an imported user's hash (as their old system wrote it) is to this hasher. */
export type ImportedHash =
  | { kind: 'hash'; algorithm: string } // verifiable here
  | { kind: 'unusable' } // no password: the user resets it
  | { kind: 'refused'; reason: string }; // not a hash this service can verify

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** false for a wrong password, a missing hash or a malformed one. */
  verify(phc: string | null, password: string): Promise<boolean>;
  /**
   * After a successful verification: true when the stored hash is not ours at the current
   * parameters (an imported user's, or an older argon2id): the caller re-hashes it.
   */
  needsUpgrade(stored: string): boolean;
  /** An imported hash, checked before it is stored (cheap: no hashing). */
  classifyImported(encoded: string | null): ImportedHash;
}
