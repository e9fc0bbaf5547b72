/** `webhooks list`, `webhooks create`, `webhooks disable|enable|delete <id>`: the admin API's webhook endpoints from the console. */
import { randomUUID } from 'node:crypto';
import { changeWebhook, createWebhook, deleteWebhook } from '../commands/webhooks.js';
import type { EventContext } from '../ports/events.js';
import { checkWebhookUrl } from '../infra/webhooks/policy.js';
import { listWebhooks } from '../projections/webhooks/queries.js';
import { table, type CliCommand } from './command.js';
import { CliError, guarded, stringOption, withRuntime } from './context.js';

const ctx = (what: string): EventContext => ({
  now: new Date(), correlationId: randomUUID(), causationId: null, actorId: null, requestId: null, ip: null,
  userAgent: `authstream cli (webhooks ${what})`,
});

export const webhooksListCommand: CliCommand = {
  name: 'webhooks list',
  summary: 'The webhook endpoints (never their secrets)',
  usage: `Usage: authstream webhooks list [--json]

Lists every endpoint that is not deleted: id, status, event types and URL. --json prints
{ "webhooks": [{ id, url, event_types, description, status, disabled_reason }] }.`,
  options: { json: { type: 'boolean' } },
  run: ({ values }, io) => guarded(io, 'webhooks list', () => withRuntime(io, async (runtime) => {
    const rows = await listWebhooks(runtime.sql);
    if (values.json) {
      io.out.write(`${JSON.stringify({ webhooks: rows.map((r) => ({
        id: r.id, url: r.url, event_types: r.event_types, description: r.description, status: r.status, disabled_reason: r.disabled_reason,
      })) })}\n`);
    } else {
      io.out.write(table(rows.map((r) => [r.id, r.status + (r.disabled_reason ? ` (${r.disabled_reason})` : ''), r.event_types.join(','), r.url]),
        ['ID', 'STATUS', 'EVENT_TYPES', 'URL']));
    }
    return 0;
  })),
};

export const webhooksCreateCommand: CliCommand = {
  name: 'webhooks create',
  summary: 'Subscribe an endpoint to auth events; prints its signing secret once',
  usage: `Usage: authstream webhooks create --url <https url> [--types A,B | --types '*'] [--description <text>] [--json]

Creates an endpoint (an event, like the admin API's POST /v1/admin/webhooks) and prints
its id and signing secret (whsec_…): keep the secret, it is not shown again. --types
defaults to '*' (every event). --json prints { id, secret, url, event_types }.`,
  options: { url: { type: 'string' }, types: { type: 'string' }, description: { type: 'string' }, json: { type: 'boolean' } },
  run: ({ values }, io) => guarded(io, 'webhooks create', () => withRuntime(io, async (runtime) => {
    const raw = stringOption(values.url);
    if (!raw) throw new CliError('--url is required', 2);
    const { webhooks } = runtime.config;
    const checked = checkWebhookUrl(raw, { allowHttp: webhooks.allowHttp, allowPrivate: webhooks.allowPrivate });
    if (!checked.ok) throw new CliError(`--url ${checked.reason}`, 2);
    const eventTypes = (stringOption(values.types) ?? '*').split(',').map((x) => x.trim()).filter(Boolean);
    const created = await createWebhook(runtime.deps, {
      url: checked.url.toString(), eventTypes, description: stringOption(values.description) ?? '',
    }, ctx('create'));
    await runtime.readYourWrites(created.position);
    const out = { id: created.webhook.id, secret: created.secret, url: created.webhook.url, event_types: created.webhook.eventTypes };
    io.out.write(values.json ? `${JSON.stringify(out)}\n` : `created webhook ${out.id}\nsecret (shown once): ${out.secret}\n`);
    return 0;
  })),
};

const action = (verb: 'disable' | 'enable' | 'delete'): CliCommand => ({
  name: `webhooks ${verb}`,
  summary: `${verb[0]?.toUpperCase()}${verb.slice(1)} a webhook endpoint`,
  usage: `Usage: authstream webhooks ${verb} <id>`,
  run: ({ positionals }, io) => guarded(io, `webhooks ${verb}`, () => withRuntime(io, async (runtime) => {
    const [id, extra] = positionals;
    if (!id || extra !== undefined) throw new CliError('give one webhook id', 2);
    const position = verb === 'delete'
      ? await deleteWebhook(runtime.deps, id, ctx(verb))
      : (await changeWebhook(runtime.deps, id, { status: verb === 'enable' ? 'enabled' : 'disabled' }, ctx(verb))).position;
    await runtime.readYourWrites(position);
    io.out.write(`${verb}d webhook ${id}\n`);
    return 0;
  })),
});

export const webhooksDisableCommand = action('disable');
export const webhooksEnableCommand = action('enable');
export const webhooksDeleteCommand = action('delete');
