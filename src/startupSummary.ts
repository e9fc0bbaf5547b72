/**
 * What a person starting the service needs to know, in one log line: where it answers,
 * where its data and master key are, what the bootstrap admin did, and where messages go.
 * Never a secret: URLs lose their passwords.
 */
import { resolve } from 'node:path';
import type { Config } from './config.js';

/** host[:port][/database] of a URL, without user or password. */
function place(raw: string): string {
  try {
    const u = new URL(raw);
    const path = u.pathname && u.pathname !== '/' ? u.pathname : '';
    return `${u.protocol}//${u.host}${path}`;
  } catch {
    return '(unparsable URL)';
  }
}

export interface StartupSummary {
  url: string;
  console: string | null;
  docs: string;
  event_store: string;
  read_models: string;
  data_dir: string | null;
  master_key: string;
  bootstrap_admin: string;
  mail: string;
  sms: string;
}

export function startupSummary(config: Config, bootstrap: string | null): StartupSummary {
  const embedded = config.databaseUrl === undefined;
  const database = embedded ? `embedded PostgreSQL (PGlite) in ${resolve(config.dataDir, 'pglite')}` : `PostgreSQL ${place(config.databaseUrl as string)}`;
  const { recovery } = config;
  return {
    url: config.publicUrl,
    console: config.console ? `${config.publicUrl}/console` : null,
    docs: `${config.publicUrl}/docs`,
    event_store: config.eventStore === 'eventstoredb' ? `EventStoreDB ${place(config.eventStoreUrl ?? '')}` : database,
    read_models: database,
    data_dir: embedded || config.masterKey === undefined ? resolve(config.dataDir) : null,
    master_key: config.masterKey !== undefined ? 'from MASTER_KEY' : `file ${resolve(config.dataDir, 'master.key')}`,
    bootstrap_admin: bootstrap ?? 'not configured (BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)',
    mail: recovery.smtpUrl ? `SMTP ${place(recovery.smtpUrl)} from ${recovery.mailFrom}` : recovery.logMessages ? 'not sent: written to this log (SMTP_URL unset)' : 'dropped (SMTP_URL unset)',
    sms: recovery.smsWebhookUrl ? `POST ${place(recovery.smsWebhookUrl)}` : recovery.logMessages ? 'not sent: written to this log (SMS_WEBHOOK_URL unset)' : 'dropped (SMS_WEBHOOK_URL unset)',
  };
}
