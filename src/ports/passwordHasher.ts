/** Password hashing (infra/passwordHasher.ts: argon2id). */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** false for a wrong password, a missing hash or a malformed one. */
  verify(phc: string | null, password: string): Promise<boolean>;
}
