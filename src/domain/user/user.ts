/**
 * The user aggregate: state folded from the `user-<id>` stream, and the pure decisions
 * on it. Time and ids arrive as data; nothing here does I/O.
 */
import { ConflictError, NotFoundError, ValidationError } from '../errors.js';
import type { Recorded, Role, UserEvent, UserImported } from '../events.js';
import type { Aggregate } from '../decider.js';
import { afterIdentifierChange, evolveRecovery, isRecoveryEvent, type PendingRequests } from './recovery.js';

/// State

export type UserStatus = 'active' | 'disabled' | 'erased';

export interface ExistingUser {
  status: UserStatus;
  id: string;
  email: string | null;
  phone: string | null;
  firstName: string;
  lastName: string;
  passwordHash: string | null;
  roles: Role[];
  createdAt: Date;
  updatedAt: Date;
  /** Sessions decided against a user revision below this one are no longer valid… */
  sessionsValidFromRevision: bigint;
  /** …except this one (the session that changed the password). */
  keptSessionId: string | null;
  revision: bigint;
  emailVerified: boolean;
  phoneVerified: boolean;
  /** Reset and verification requests not yet redeemed (recovery.ts). */
  pending: PendingRequests;
}

export type User = { status: 'none' } | ExistingUser;

export const initialUser = (): User => ({ status: 'none' });

export function evolveUser(state: User, event: Recorded<UserEvent>): User {
  const at = event.occurredAt;
  if (event.type === 'UserRegistered') {
    const d = event.data;
    return {
      status: 'active', id: d.user_id, email: d.email, phone: d.phone,
      firstName: d.first_name, lastName: d.last_name, passwordHash: d.password_hash,
      roles: [...d.roles], createdAt: at, updatedAt: at,
      sessionsValidFromRevision: 0n, keptSessionId: null, revision: event.revision,
      emailVerified: false, phoneVerified: false, pending: {},
    };
  }
  if (event.type === 'UserImported') return imported(event);
  if (state.status === 'none') return state;
  if (isRecoveryEvent(event)) return evolveRecovery({ ...state, revision: event.revision }, event);
  const s: ExistingUser = { ...state, updatedAt: at, revision: event.revision };
  switch (event.type) {
    case 'ProfileUpdated':
      return { ...s, firstName: event.data.first_name, lastName: event.data.last_name };
    case 'EmailChanged':
      return { ...afterIdentifierChange(s, 'email'), email: event.data.email };
    case 'PhoneChanged':
      return { ...afterIdentifierChange(s, 'phone'), phone: event.data.phone };
    case 'PasswordChanged': {
      const { reset: _void, ...pending } = s.pending; // a reset asked before a change is void
      return {
        ...s, passwordHash: event.data.password_hash, pending,
        sessionsValidFromRevision: event.revision, keptSessionId: event.data.kept_session_id,
      };
    }
    case 'PasswordUpgraded':
      return { ...s, passwordHash: event.data.password_hash };
    case 'RoleGranted':
      return s.roles.includes(event.data.role) ? s : { ...s, roles: [...s.roles, event.data.role] };
    case 'RoleRevoked':
      return { ...s, roles: s.roles.filter((r) => r !== event.data.role) };
    case 'UserDisabled':
      return { ...s, status: 'disabled', sessionsValidFromRevision: event.revision, keptSessionId: null };
    case 'UserEnabled':
      return { ...s, status: 'active' };
    case 'UserErased':
      return {
        ...s, status: 'erased', email: null, phone: null, firstName: '', lastName: '', passwordHash: null,
        roles: [], sessionsValidFromRevision: event.revision, keptSessionId: null,
        emailVerified: false, phoneVerified: false, pending: {},
      };
  }
}

function imported(event: Recorded<UserImported>): ExistingUser {
  const d = event.data;
  return {
    status: d.disabled ? 'disabled' : 'active', id: d.user_id, email: d.email, phone: d.phone,
    firstName: d.first_name, lastName: d.last_name, passwordHash: d.password_hash,
    roles: [...d.roles], createdAt: new Date(d.joined_at), updatedAt: event.occurredAt,
    sessionsValidFromRevision: 0n, keptSessionId: null, revision: event.revision,
    emailVerified: d.email_verified, phoneVerified: d.phone_verified, pending: {},
  };
}

/** A session started against user revision `userRevision` is still allowed by the user stream. */
export function userAllowsSession(user: User, sessionId: string, userRevision: bigint): boolean {
  if (user.status !== 'active') return false;
  return userRevision >= user.sessionsValidFromRevision || user.keptSessionId === sessionId;
}

/// Decisions

export interface RegisterUser {
  userId: string;
  email: string | null;
  phone: string | null;
  firstName: string;
  lastName: string;
  passwordHash: string;
  roles: Role[];
}

export function decideRegister(state: User, c: RegisterUser): UserEvent[] {
  if (state.status !== 'none') throw new ConflictError('user already exists');
  if (c.email === null && c.phone === null) throw new ValidationError('/email', 'an email or a phone number is required');
  return [{
    type: 'UserRegistered',
    data: {
      user_id: c.userId, email: c.email, phone: c.phone, first_name: c.firstName, last_name: c.lastName,
      password_hash: c.passwordHash, roles: c.roles,
    },
  }];
}

/** An import of a user the stream already has (imported before, or erased since) appends nothing. */
export function decideImport(state: User, imported: UserImported['data']): UserEvent[] {
  if (state.status !== 'none') return [];
  if (imported.email === null && imported.phone === null) throw new ValidationError('/email', 'an email or a phone number is required');
  return [{ type: 'UserImported', data: imported }];
}

/**
 * After a successful sign-in with a hash that is not ours (or weaker than ours now): the
 * same password hashed anew. Only while `checkedHash` is still the user's hash: a password
 * changed in between wins.
 */
export function decideUpgradePassword(state: User, checkedHash: string, newHash: string): UserEvent[] {
  if (state.status === 'none' || state.status === 'erased' || state.passwordHash !== checkedHash) return [];
  return [{ type: 'PasswordUpgraded', data: { user_id: state.id, password_hash: newHash } }];
}

export function requireExisting(state: User): ExistingUser {
  if (state.status === 'none' || state.status === 'erased') throw new NotFoundError('user');
  return state;
}

export interface UpdateProfile {
  firstName?: string;
  lastName?: string;
  /** undefined: unchanged; null: remove. Already normalised. */
  email?: string | null;
  phone?: string | null;
}

export function decideUpdateProfile(state: User, c: UpdateProfile): UserEvent[] {
  const user = requireExisting(state);
  const email = c.email === undefined ? user.email : c.email;
  const phone = c.phone === undefined ? user.phone : c.phone;
  if (email === null && phone === null) {
    throw new ValidationError(c.email === null ? '/email' : '/phone', 'a user keeps at least one of email and phone');
  }
  const events: UserEvent[] = [];
  const firstName = c.firstName ?? user.firstName;
  const lastName = c.lastName ?? user.lastName;
  if (firstName !== user.firstName || lastName !== user.lastName) {
    events.push({ type: 'ProfileUpdated', data: { user_id: user.id, first_name: firstName, last_name: lastName } });
  }
  if (email !== user.email) events.push({ type: 'EmailChanged', data: { user_id: user.id, email } });
  if (phone !== user.phone) events.push({ type: 'PhoneChanged', data: { user_id: user.id, phone } });
  return events;
}

export function decideChangePassword(
  state: User,
  c: { currentPasswordOk: boolean; newPasswordHash: string; keptSessionId: string | null },
): UserEvent[] {
  const user = requireExisting(state);
  if (!c.currentPasswordOk) return []; // the caller answers invalid_credentials
  return [{ type: 'PasswordChanged', data: { user_id: user.id, password_hash: c.newPasswordHash, kept_session_id: c.keptSessionId } }];
}

export function decideGrantRole(state: User, role: Role): UserEvent[] {
  const user = requireExisting(state);
  return user.roles.includes(role) ? [] : [{ type: 'RoleGranted', data: { user_id: user.id, role } }];
}

export function decideRevokeRole(state: User, role: Role): UserEvent[] {
  const user = requireExisting(state);
  return user.roles.includes(role) ? [{ type: 'RoleRevoked', data: { user_id: user.id, role } }] : [];
}

export function decideDisable(state: User): UserEvent[] {
  const user = requireExisting(state);
  return user.status === 'disabled' ? [] : [{ type: 'UserDisabled', data: { user_id: user.id } }];
}

export function decideEnable(state: User): UserEvent[] {
  const user = requireExisting(state);
  return user.status === 'active' ? [] : [{ type: 'UserEnabled', data: { user_id: user.id } }];
}

export function decideErase(state: User): UserEvent[] {
  if (state.status === 'none') throw new NotFoundError('user');
  if (state.status === 'erased') return [];
  return [{ type: 'UserErased', data: { user_id: state.id } }];
}

export const UserAggregate: Aggregate<User, UserEvent> = { initial: initialUser, evolve: evolveUser };

const ROLE = /^[a-z][a-z0-9_.:-]{0,63}$/;

/** A role name: 1-64 characters, lower-case letters, digits, _ . : - (400 otherwise). */
export function checkRole(role: string): string {
  if (!ROLE.test(role)) throw new ValidationError('/role', 'a role is 1-64 characters: lower-case letters, digits, _ . : -');
  return role;
}
