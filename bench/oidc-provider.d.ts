/**
 * The part of oidc-provider 9 the benchmark's peer uses (the package ships no types).
 * Checked against node_modules/oidc-provider/lib/{provider,models/grant,models/base_token,
 * models/refresh_token}.js; the configuration is passed through as the package reads it.
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface ClientMetadata {
    client_id: string;
    client_secret?: string;
    grant_types?: string[];
    response_types?: string[];
    redirect_uris?: string[];
    token_endpoint_auth_method?: string;
    [key: string]: unknown;
  }

  /** The configuration object; only what the peer sets is named. */
  export interface Configuration {
    clients?: ClientMetadata[];
    jwks?: { keys: Array<Record<string, unknown>> };
    scopes?: string[];
    rotateRefreshToken?: boolean | ((ctx: unknown) => boolean | Promise<boolean>);
    findAccount?: (ctx: unknown, sub: string, token?: unknown) => Promise<{ accountId: string; claims(): Promise<Record<string, unknown>> } | undefined>;
    ttl?: Record<string, number | ((...args: unknown[]) => number)>;
    features?: Record<string, unknown>;
    [key: string]: unknown;
  }

  export interface Client {
    clientId: string;
  }

  export interface Grant {
    addOIDCScope(scope: string): void;
    addResourceScope(resource: string, scope: string): void;
    /** Stores the grant; resolves to its id. */
    save(): Promise<string>;
  }

  export interface RefreshToken {
    /** Stores the token; resolves to its value (what a client sends back). */
    save(): Promise<string>;
  }

  export default class Provider {
    constructor(issuer: string, configuration?: Configuration);
    /** The Koa request handler, for node:http's createServer. */
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    Grant: new (properties: { accountId: string; clientId: string }) => Grant;
    RefreshToken: new (properties: {
      accountId: string;
      client: Client;
      grantId: string;
      scope: string;
      resource?: string;
      gty?: string;
    }) => RefreshToken;
    Client: { find(id: string): Promise<Client | undefined> };
  }
}
