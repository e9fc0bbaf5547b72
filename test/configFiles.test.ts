/** NAME_FILE settings: secrets from mounted files (Docker and Kubernetes secrets). */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../src/config.js';
import { FILE_SETTINGS } from '../src/configValues.js';

const dir = mkdtempSync(join(tmpdir(), 'authstream-secrets-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

t.test('a secret read from its file, one trailing newline dropped', async (t) => {
  const key = Buffer.alloc(32, 3).toString('base64');
  const config = loadConfig({
    MASTER_KEY_FILE: file('master_key', `${key}\n`),
    DATABASE_URL_FILE: file('database_url', 'postgres://app:pw@db:5432/auth\n'),
    BOOTSTRAP_ADMIN_EMAIL: 'root@example.com',
    BOOTSTRAP_ADMIN_PASSWORD_FILE: file('admin_password', 'a password with a trailing space \n'),
  });
  t.equal(config.masterKey, key);
  t.equal(config.databaseUrl, 'postgres://app:pw@db:5432/auth');
  t.equal(config.bootstrapAdminPassword, 'a password with a trailing space ', 'only the newline goes');
  t.ok(FILE_SETTINGS.includes('JWT_PRIVATE_KEY') && FILE_SETTINGS.includes('SMTP_URL'), 'the other secrets too');
});

t.test('what stops start-up, naming the setting', async (t) => {
  t.throws(() => loadConfig({ MASTER_KEY_FILE: join(dir, 'missing') }), { name: 'ConfigError', setting: 'MASTER_KEY_FILE', message: /cannot read .*missing \(ENOENT\)/ });
  t.throws(() => loadConfig({ MASTER_KEY_FILE: file('empty', '\n') }), { setting: 'MASTER_KEY_FILE', message: /is empty/ });
  t.throws(() => loadConfig({ MASTER_KEY: 'x', MASTER_KEY_FILE: file('both', 'y') }), { setting: 'MASTER_KEY_FILE', message: /so is MASTER_KEY: keep one/ });
  t.type(new ConfigError('X', 'y'), Error);
});
