/** `admin create`: an administrator account from the console (bootstrap or recovery). */
import { randomUUID } from 'node:crypto';
import { grantRole } from '../commands/admin.js';
import { holderOf } from '../commands/identifiers.js';
import { createUser } from '../commands/registerUser.js';
import type { EventContext } from '../ports/events.js';
import { normaliseEmail } from '../policy/identifiers.js';
import type { CliCommand } from './command.js';
import { CliError, guarded, stringOption, withRuntime } from './context.js';

type Outcome = 'created' | 'role_granted' | 'already_admin';

export const adminCreateCommand: CliCommand = {
  name: 'admin create',
  summary: 'Create an admin account, or grant the admin role to an existing one',
  usage: `Usage: authstream admin create --email <email> [--password <password>] [--json]

Creates a user with the roles user and admin. If the email already belongs to a user,
grants that user the admin role instead and leaves the password unchanged. The password
follows the service's policy (8 to 256 characters, not a common password).

The password may come from AUTHSTREAM_ADMIN_PASSWORD instead of --password, which keeps
it out of the shell history and the process list. --json prints
{ "outcome": "created" | "role_granted" | "already_admin", "user_id", "email" }.`,
  options: { email: { type: 'string' }, password: { type: 'string' }, json: { type: 'boolean' } },
  run: ({ values }, io) => guarded(io, 'admin create', async () => {
    const emailGiven = stringOption(values.email);
    if (!emailGiven) throw new CliError('--email is required', 2);
    const password = stringOption(values.password) ?? io.env.AUTHSTREAM_ADMIN_PASSWORD;
    const email = normaliseEmail(emailGiven, '--email');
    return withRuntime(io, async (runtime) => {
      const ctx: EventContext = {
        now: new Date(), correlationId: randomUUID(), causationId: null, actorId: null,
        requestId: null, ip: null, userAgent: 'authstream cli (admin create)',
      };
      let outcome: Outcome;
      let userId: string;
      const holder = await holderOf(runtime.deps, { kind: 'email', value: email });
      if (holder !== null) {
        userId = holder;
        const position = await grantRole(runtime.deps, holder, 'admin', ctx);
        await runtime.readYourWrites(position);
        outcome = position === null ? 'already_admin' : 'role_granted';
        const user = await runtime.readModels.getUser(holder);
        if (user?.status === 'disabled') io.err.write('note: this account is disabled; it cannot log in until it is enabled\n');
      } else {
        if (password === undefined || password === '') throw new CliError('--password (or AUTHSTREAM_ADMIN_PASSWORD) is required to create a user', 2);
        const { user, position } = await createUser(runtime.deps, { email, password, roles: ['user', 'admin'], vouched: true }, ctx);
        await runtime.readYourWrites(position);
        userId = user.id;
        outcome = 'created';
      }
      if (values.json) {
        io.out.write(`${JSON.stringify({ outcome, user_id: userId, email })}\n`);
      } else {
        const text: Record<Outcome, string> = {
          created: `created admin ${email} (${userId})`,
          role_granted: `granted the admin role to ${email} (${userId}); the password is unchanged`,
          already_admin: `${email} (${userId}) is already an admin; nothing changed`,
        };
        io.out.write(`${text[outcome]}\n`);
      }
      return 0;
    });
  }),
};
