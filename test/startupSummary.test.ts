/** The start-up line: what a person needs, never a secret; LOG_FORMAT. */
import t from 'tap';
import { resolve } from 'node:path';
import { ConfigError, loadConfig } from '../src/config.js';
import { startupSummary } from '../src/startupSummary.js';

t.test('embedded, no configuration', async (t) => {
  const s = startupSummary(loadConfig({ DATA_DIR: './data', PORT: '3000' }), null);
  t.equal(s.url, 'http://localhost:3000');
  t.equal(s.console, 'http://localhost:3000/console');
  t.equal(s.event_store, `embedded PostgreSQL (PGlite) in ${resolve('data', 'pglite')}`);
  t.equal(s.master_key, `file ${resolve('data', 'master.key')}`);
  t.match(s.bootstrap_admin, /not configured \(BOOTSTRAP_ADMIN_EMAIL/);
  t.match(s.mail, /written to this log/);
});

t.test('servers: where, without passwords', async (t) => {
  const s = startupSummary(loadConfig({
    DATABASE_URL: 'postgres://app:pg-s3cret@db.internal:5433/auth', MASTER_KEY: Buffer.alloc(32, 1).toString('base64'),
    SMTP_URL: 'smtp://mailer:smtp-s3cret@mail.internal:587', SMS_WEBHOOK_URL: 'https://sms.example/send?key=k', SMS_WEBHOOK_TOKEN: 'tok-s3cret',
    NODE_ENV: 'production', CONSOLE_ENABLED: 'false', PUBLIC_URL: 'https://auth.example',
  }), 'root@example.com: exists');
  t.equal(s.event_store, 'PostgreSQL postgres://db.internal:5433/auth');
  t.equal(s.master_key, 'from MASTER_KEY');
  t.equal(s.data_dir, null, 'no data directory in use');
  t.equal(s.console, null);
  t.match(s.mail, /^SMTP smtp:\/\/mail\.internal:587 from /);
  t.equal(s.sms, 'POST https://sms.example/send');
  t.equal(s.bootstrap_admin, 'root@example.com: exists');
  t.notMatch(JSON.stringify(s), /s3cret|key=k|mailer|app:/, 'no password, user or query string');
});

t.test('LOG_FORMAT', async (t) => {
  t.equal(loadConfig({}).logFormat, 'auto');
  t.equal(loadConfig({ LOG_FORMAT: 'JSON' }).logFormat, 'json');
  t.equal(loadConfig({ LOG_FORMAT: 'pretty' }).logFormat, 'pretty');
  t.throws(() => loadConfig({ LOG_FORMAT: 'xml' }), ConfigError);
});
