/** Sign-in with an admin account: password, then a second factor when the account has one. */
import { useState } from 'preact/hooks';
import { browserSupportsWebAuthn, startAuthentication } from '@simplewebauthn/browser';
import { api, type MfaChallenge, type TokenResponse } from '../api.js';
import { describe, NoticeLine, type Notice } from '../ui.js';

/** Keeps the tokens only for an account that holds `admin`; otherwise ends the session and says why. */
async function admit(tokens: TokenResponse): Promise<Notice> {
  if (tokens.user.roles.includes('admin')) {
    api.adopt(tokens);
    return null;
  }
  await api.discard(tokens);
  if (tokens.withheld_roles?.includes('admin')) {
    return { kind: 'error', text: 'This account needs a second factor for the admin role. Enrol one (POST /v1/me/mfa/totp), then sign in again.' };
  }
  return { kind: 'error', text: 'This account is not an admin: the console needs the admin role.' };
}

export function SignIn() {
  const [identifier, setIdentifier] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [useRecovery, setUseRecovery] = useState(false);
  const [challenge, setChallenge] = useState<MfaChallenge | null>(null);
  const [notice, setNotice] = useState<Notice>(null);
  const [busy, setBusy] = useState(false);

  const attempt = async (step: () => Promise<void>): Promise<void> => {
    setBusy(true);
    setNotice(null);
    try {
      await step();
    } catch (error) {
      setNotice({ kind: 'error', text: describe(error) });
    } finally {
      setBusy(false);
    }
  };

  const first = (e: Event): void => {
    e.preventDefault();
    void attempt(async () => {
      const result = await api.signIn(identifier.trim(), password);
      setPassword('');
      if ('mfa' in result) {
        setChallenge(result.mfa);
        return;
      }
      setNotice(await admit(result.tokens));
    });
  };

  const second = (e: Event): void => {
    e.preventDefault();
    if (!challenge) return;
    void attempt(async () => {
      const proof = useRecovery ? { recovery_code: code.trim() } : { code: code.trim() };
      const tokens = await api.secondFactor(challenge.mfa_ticket, proof);
      setNotice(await admit(tokens));
    });
  };

  const passkey = (): void => {
    if (!challenge?.webauthn) return;
    const options = challenge.webauthn;
    void attempt(async () => {
      const assertion = await startAuthentication({ optionsJSON: options as unknown as Parameters<typeof startAuthentication>[0]['optionsJSON'] });
      const tokens = await api.secondFactor(challenge.mfa_ticket, { webauthn: assertion });
      setNotice(await admit(tokens));
    });
  };

  return (
    <main id="main" class="signin">
      <h1 tabIndex={-1}>authstream console</h1>
      {challenge === null ? (
        <form onSubmit={first} aria-describedby="signin-help">
          <p id="signin-help" class="muted">Sign in with an account that has the admin role.</p>
          <label for="identifier">Email or phone</label>
          <input id="identifier" name="identifier" autoComplete="username" required value={identifier}
            onInput={(e) => setIdentifier(e.currentTarget.value)} />
          <label for="password">Password</label>
          <input id="password" name="password" type="password" autoComplete="current-password" required value={password}
            onInput={(e) => setPassword(e.currentTarget.value)} />
          <button type="submit" disabled={busy}>Sign in</button>
        </form>
      ) : (
        <form onSubmit={second}>
          <p>This account has a second factor ({challenge.mfa_methods.join(', ')}).</p>
          <label for="code">{useRecovery ? 'Recovery code' : 'Code from the authenticator app'}</label>
          <input id="code" name="code" autoComplete="one-time-code" inputMode={useRecovery ? 'text' : 'numeric'} required value={code}
            onInput={(e) => setCode(e.currentTarget.value)} />
          <label class="inline">
            <input type="checkbox" checked={useRecovery} onChange={(e) => setUseRecovery(e.currentTarget.checked)} /> Use a recovery code
          </label>
          <button type="submit" disabled={busy}>Verify</button>{' '}
          {challenge.webauthn && browserSupportsWebAuthn() && (
            <><button type="button" disabled={busy} onClick={passkey}>Use a passkey</button>{' '}</>
          )}
          <button type="button" class="secondary" onClick={() => { setChallenge(null); setCode(''); }}>Start again</button>
        </form>
      )}
      <NoticeLine notice={notice} />
    </main>
  );
}
