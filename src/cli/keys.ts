/** `keys rotate`: a new access-token signing key, at once, on every instance. */
import { ConfigError, loadConfig } from '../config.js';
import { RETIRED_KEY_HORIZON_SECONDS, SigningKeys } from '../infra/signingKeys/signingKeys.js';
import type { Sql } from '../ports/sql.js';
import { loadMasterKey, openSql } from '../composition/runtime.js';
import type { CliCommand } from './command.js';

export const keysRotateCommand: CliCommand = {
  name: 'keys rotate',
  summary: 'Rotate the access-token signing key (zero downtime; prints the new kid)',
  usage: `Usage: authstream keys rotate [--json]

Promotes the pre-published next signing key to current, retires the current one and
publishes a new next key. Every running instance signs with the new key as soon as it
hears of the rotation (PostgreSQL NOTIFY, or its 30-second reload); tokens signed by the
old key keep verifying until they expire: the old key stays in /.well-known/jwks.json for
${RETIRED_KEY_HORIZON_SECONDS} s (the longest access-token lifetime plus a grace).

Prints the new key id (kid); never a private key. --json prints
{ "kid", "previous_kid", "next_kid", "published": [{ "kid", "status" }] }.

Uses DATABASE_URL and MASTER_KEY (or DATA_DIR/master.key) like the service. With the
embedded database (no DATABASE_URL) run it while the service is stopped. Refused when
JWT_PRIVATE_KEY is set: that key becomes current again at every start; rotate by
changing it instead.`,
  options: { json: { type: 'boolean' } },
  async run(args, io) {
    const fail = (message: string): number => {
      io.err.write(`authstream keys rotate: ${message}\n`);
      return 1;
    };
    let sql: Sql | undefined;
    try {
      const config = loadConfig(io.env);
      if (config.jwtPrivateKey !== undefined) {
        return fail('JWT_PRIVATE_KEY is set, so that key becomes current again at every start; rotate by changing JWT_PRIVATE_KEY');
      }
      const master = loadMasterKey(config);
      sql = await openSql(config);
      const keys = await SigningKeys.open(sql, master);
      const { current, previousKid, nextKid } = await keys.rotate();
      const published = keys.published().map((k) => ({ kid: k.kid, status: k.status }));
      if (args.values.json) {
        io.out.write(`${JSON.stringify({ kid: current.kid, previous_kid: previousKid, next_kid: nextKid, published })}\n`);
      } else {
        io.out.write(`${current.kid}\n`);
        io.err.write(`signing key rotated: ${current.kid} signs from now on`
          + (previousKid ? `; ${previousKid} keeps verifying for ${RETIRED_KEY_HORIZON_SECONDS} s` : '')
          + `; ${nextKid} is published as the next key\n`);
        if (sql.kind === 'pglite') io.err.write('embedded database: a running service picks the new key up when it restarts\n');
      }
      return 0;
    } catch (e) {
      return fail(e instanceof ConfigError ? `configuration error: ${e.message}` : e instanceof Error ? e.message : String(e));
    } finally {
      await sql?.close().catch(() => {});
    }
  },
};
