/**
 * The console's client of the service's own API. Tokens live in memory only (a reload asks
 * for the password again); the access token is refreshed with the rotating refresh token
 * shortly before it expires, and once more when an answer says 401 invalid_token. One
 * refresh at a time: concurrent callers wait for the same rotation, so the console never
 * presents a rotated refresh token (which the service would rightly take for theft).
 */

export interface Problem {
  status: number;
  code: string;
  title?: string;
  detail?: string;
  errors?: { path: string; message: string }[];
  [extension: string]: unknown;
}

export class ApiError extends Error {
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail ?? problem.title ?? problem.code);
    this.problem = problem;
  }
  get status(): number {
    return this.problem.status;
  }
}

export interface User {
  id: string;
  email: string | null;
  phone: string | null;
  email_verified: boolean;
  phone_verified: boolean;
  first_name: string;
  last_name: string;
  roles: string[];
  status: 'active' | 'disabled' | 'erased';
  created_at: string;
  updated_at: string;
}

export interface TokenResponse {
  access_token: string;
  expires_in: number;
  refresh_token: string;
  session_id: string;
  user: User;
  withheld_roles?: string[];
  mfa_enrolment_required?: boolean;
}

/** What POST /v1/auth/login answers for an account with a second factor (403 mfa_required). */
export interface MfaChallenge {
  mfa_ticket: string;
  expires_in: number;
  mfa_methods: string[];
  /** WebAuthn assertion options when the account has a passkey. */
  webauthn: Record<string, unknown> | null;
}

type Listener = (signedIn: boolean) => void;

async function problemOf(response: Response): Promise<Problem> {
  try {
    const body = (await response.json()) as Partial<Problem>;
    return { ...body, status: response.status, code: body.code ?? 'unknown' };
  } catch {
    return { status: response.status, code: response.status === 503 ? 'unavailable' : 'unknown', detail: response.statusText };
  }
}

export class Api {
  #access: string | null = null;
  #refresh: string | null = null;
  #user: User | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #refreshing: Promise<void> | null = null;
  readonly #listeners = new Set<Listener>();

  get user(): User | null {
    return this.#user;
  }

  get accessToken(): string | null {
    return this.#access;
  }

  onChange(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Password sign-in: tokens, or the second step an account with a factor needs. */
  async signIn(identifier: string, password: string): Promise<{ mfa: MfaChallenge } | { tokens: TokenResponse }> {
    const response = await fetch('/v1/auth/login', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ identifier, password }),
    });
    if (response.ok) return { tokens: (await response.json()) as TokenResponse };
    const problem = await problemOf(response);
    if (problem.code === 'mfa_required' && typeof problem.mfa_ticket === 'string') {
      return {
        mfa: {
          mfa_ticket: problem.mfa_ticket, expires_in: Number(problem.expires_in), mfa_methods: (problem.mfa_methods as string[]) ?? [],
          webauthn: (problem.webauthn as Record<string, unknown> | null) ?? null,
        },
      };
    }
    throw new ApiError(problem);
  }

  /** The second step: a TOTP code, a recovery code or a passkey's assertion with the ticket. */
  async secondFactor(ticket: string, proof: { code: string } | { recovery_code: string } | { webauthn: unknown }): Promise<TokenResponse> {
    const response = await fetch('/v1/auth/login/mfa', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mfa_ticket: ticket, ...proof }),
    });
    if (!response.ok) throw new ApiError(await problemOf(response));
    return (await response.json()) as TokenResponse;
  }

  /** Signs in with tokens from signIn() or secondFactor(). */
  adopt(tokens: TokenResponse): void {
    this.#accept(tokens);
  }

  /** Ends the session of tokens that are not kept (an account without the admin role). */
  async discard(tokens: TokenResponse): Promise<void> {
    await Api.#logout(tokens.refresh_token);
  }

  async signOut(): Promise<void> {
    const refresh = this.#refresh;
    this.#forget();
    if (refresh !== null) await Api.#logout(refresh);
  }

  static async #logout(refreshToken: string): Promise<void> {
    await fetch('/v1/auth/logout', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: refreshToken }),
    }).catch(() => undefined);
  }

  /** A JSON request with the access token; one refresh and retry on 401 invalid_token. */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.fetch(path, {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    if (!response.ok) throw new ApiError(await problemOf(response));
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  /** fetch() with the access token (refreshed once on 401). For streams too. */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const send = (): Promise<Response> => {
      const headers = new Headers(init.headers);
      if (this.#access) headers.set('authorization', `Bearer ${this.#access}`);
      return fetch(path, { ...init, headers });
    };
    let response = await send();
    if (response.status === 401 && this.#refresh !== null) {
      const sent = this.#access;
      await this.refresh(sent);
      if (this.#access === null) throw new ApiError({ status: 401, code: 'invalid_token', detail: 'signed out: sign in again' });
      response = await send();
    }
    return response;
  }

  /**
   * Rotates the refresh token. `stale`: the access token a caller saw refused; when another
   * caller has replaced it meanwhile, nothing is rotated again.
   */
  refresh(stale: string | null = this.#access): Promise<void> {
    if (this.#refreshing) return this.#refreshing;
    if (stale !== this.#access) return Promise.resolve();
    this.#refreshing = this.#rotate().finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  async #rotate(): Promise<void> {
    const token = this.#refresh;
    if (token === null) return;
    let response: Response;
    try {
      response = await fetch('/v1/auth/refresh', {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refresh_token: token }),
      });
    } catch {
      this.#schedule(15); // the network is away: try again soon, the tokens are still ours
      return;
    }
    if (response.ok) {
      this.#accept((await response.json()) as TokenResponse);
    } else if (response.status === 503 || response.status === 429) {
      this.#schedule(15);
    } else {
      this.#forget(); // revoked, expired or reused: the session is over
    }
  }

  #accept(tokens: TokenResponse): TokenResponse {
    const was = this.#access !== null;
    this.#access = tokens.access_token;
    this.#refresh = tokens.refresh_token;
    this.#user = tokens.user;
    // Refresh at four fifths of the lifetime, so a request never carries an expired token.
    this.#schedule(Math.max(5, tokens.expires_in * 0.8));
    if (!was) this.#emit(true);
    return tokens;
  }

  #schedule(seconds: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.refresh(this.#access), seconds * 1000);
  }

  #forget(): void {
    clearTimeout(this.#timer);
    const was = this.#access !== null;
    this.#access = null;
    this.#refresh = null;
    this.#user = null;
    if (was) this.#emit(false);
  }

  #emit(signedIn: boolean): void {
    for (const listener of this.#listeners) listener(signedIn);
  }
}

export const api = new Api();
