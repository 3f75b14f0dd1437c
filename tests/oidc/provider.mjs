// A real OpenID Connect provider for the SSO tests (npm `oidc-provider`), on loopback only.
//
// Usage: node tests/oidc/provider.mjs config.json
//
// config.json:
//   {
//     "port": 12345,
//     "issuer": "http://127.0.0.1:12345",
//     "clients": [{"client_id": "...", "client_secret": "...", "redirect_uris": ["..."]}],
//     "accounts": [{"id": "...", "email": "...", "email_verified": true}]
//   }
//
// Clients default to the authorization code grant with `client_secret_basic`; any other client
// metadata given in the config is passed through. PKCE (S256) is required for every client.
// The development login form (devInteractions) accepts an account id as `login` and any password.
// The ID token carries `email` and `email_verified` when the `email` scope is granted.
// Prints `READY` on stdout once listening; exits when stdin closes (the parent test went away).

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import process from 'node:process';

import Provider from 'oidc-provider';

const configPath = process.argv[2];
if (!configPath) {
  console.error('usage: node provider.mjs config.json');
  process.exit(2);
}

const config = JSON.parse(readFileSync(configPath, 'utf8'));
const port = Number(config.port);
const issuer = config.issuer ?? `http://127.0.0.1:${port}`;

const accounts = new Map((config.accounts ?? []).map((account) => [String(account.id), account]));

async function findAccount(ctx, id) {
  const account = accounts.get(String(id));
  if (!account) {
    return undefined;
  }
  return {
    accountId: String(account.id),
    async claims() {
      const claims = {
        sub: String(account.id),
        email: account.email,
        email_verified: Boolean(account.email_verified),
      };
      if (account.name !== undefined) {
        claims.name = account.name;
      }
      return claims;
    },
  };
}

const clients = (config.clients ?? []).map((client) => ({
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  ...client,
}));

// A fresh signing key per run instead of the library's fixed development keys.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = {
  ...privateKey.export({ format: 'jwk' }),
  kid: randomBytes(8).toString('hex'),
  use: 'sig',
  alg: 'RS256',
};

const provider = new Provider(issuer, {
  clients,
  findAccount,
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  // Put the email claims in the ID token itself, not only in userinfo.
  conformIdTokenClaims: false,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
  },
  features: {
    devInteractions: { enabled: true },
  },
  pkce: {
    required: () => true,
  },
});

// devInteractions signs in whatever login is typed. Like a real provider, refuse unknown
// accounts: send the browser back to the login form instead of finishing the interaction.
// The body is parsed here and handed on as req.body, which oidc-provider accepts.
provider.use(async (ctx, next) => {
  if (
    ctx.method === 'POST'
    && /^\/interaction\/[^/]+$/.test(ctx.path)
    && ctx.is('application/x-www-form-urlencoded')
  ) {
    const chunks = [];
    for await (const chunk of ctx.req) {
      chunks.push(chunk);
    }
    const body = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
    if (body.prompt === 'login' && !accounts.has(String(body.login))) {
      ctx.status = 303;
      ctx.redirect(ctx.path);
      return;
    }
    ctx.req.body = body;
  }
  await next();
});

provider.on('server_error', (ctx, error) => {
  console.error('oidc-provider server_error:', error);
});

const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write('READY\n');
});

server.on('error', (error) => {
  console.error(`oidc-provider could not listen on 127.0.0.1:${port}:`, error.message);
  process.exit(1);
});

function shutdown() {
  server.close();
  server.closeAllConnections?.();
  process.exit(0);
}

process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// The parent keeps our stdin open; when it closes (parent exited or crashed), stop too.
process.stdin.on('end', shutdown);
process.stdin.on('error', shutdown);
process.stdin.resume();
