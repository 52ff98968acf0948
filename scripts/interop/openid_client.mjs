// openid-client (npm, v6) against a running quickstart: RFC 8414 discovery, then the
// client-credentials grant, introspection and revocation at the discovered endpoints, a call
// to a protected API with the token, and (RS256 configs) the token checked with jose against
// the discovered jwks_uri.
//
//   node openid_client.mjs [BASE_URL]        (default http://127.0.0.1:3000)
//
// Exits non-zero on the first failure, printing what failed.

import * as client from 'openid-client';
import * as jose from 'jose';
import { readFileSync } from 'node:fs';

const base = process.argv[2] ?? 'http://127.0.0.1:3000';
const issuer = new URL(base);
const version = JSON.parse(
  readFileSync(new URL('./node_modules/openid-client/package.json', import.meta.url)),
).version;
console.log(`openid-client ${version} against ${base}`);

function check(condition, message) {
  if (!condition) {
    console.error(`FAIL: ${message}`);
    process.exit(1);
  }
  console.log(`ok: ${message}`);
}

// The quickstart listens on plain http (loopback): openid-client refuses that unless told.
const insecure = { execute: [client.allowInsecureRequests] };

// 1. RFC 8414 discovery (`algorithm: 'oauth2'`: /.well-known/oauth-authorization-server).
//    A client secret given as a string means client_secret_post.
const config = await client.discovery(issuer, 'demo-app', 'demo-app-secret', undefined, {
  algorithm: 'oauth2',
  ...insecure,
});
const md = config.serverMetadata();
check(md.issuer === base, `oauth2 discovery: issuer ${md.issuer}`);
check(typeof md.token_endpoint === 'string', `token_endpoint ${md.token_endpoint}`);

// 2. Client credentials at the discovered token endpoint (client_secret_post).
const tokens = await client.clientCredentialsGrant(config, { scope: 'orders:read' });
check(tokens.token_type?.toLowerCase() === 'bearer', 'client_credentials grant (client_secret_post)');
check(tokens.scope === 'orders:read', `granted scope ${tokens.scope}`);

// 3. The token works on a protected API.
const whoami = await fetch(new URL('/whoami', base), {
  headers: { authorization: `Bearer ${tokens.access_token}` },
});
check(whoami.status === 200, `GET /whoami with the token: ${whoami.status}`);

// 4. The same with client_secret_basic.
const basicConfig = await client.discovery(
  issuer,
  'demo-app',
  undefined,
  client.ClientSecretBasic('demo-app-secret'),
  { algorithm: 'oauth2', ...insecure },
);
const basicTokens = await client.clientCredentialsGrant(basicConfig, {});
check(!!basicTokens.access_token, 'client_credentials grant (client_secret_basic)');

// 5. Introspection and revocation at the discovered endpoints.
const active = await client.tokenIntrospection(config, tokens.access_token);
check(active.active === true && active.client_id === 'demo-app', 'introspection: active');
await client.tokenRevocation(config, tokens.access_token);
const revoked = await client.tokenIntrospection(config, tokens.access_token);
check(revoked.active === false, 'revocation, then introspection: inactive');

// 6. Asymmetric keys: verify a token with jose against the discovered jwks_uri.
if (md.jwks_uri) {
  const jwks = jose.createRemoteJWKSet(new URL(md.jwks_uri));
  const { payload, protectedHeader } = await jose.jwtVerify(basicTokens.access_token, jwks, {
    issuer: md.issuer,
    audience: 'quickstart-api',
    typ: 'at+jwt',
  });
  check(payload.sub === 'demo-app', `jose jwtVerify with jwks_uri (alg ${protectedHeader.alg})`);
} else {
  console.log('skip: no jwks_uri (HMAC key)');
}

// 7. OpenID Connect mode (the default `algorithm`) reads /.well-known/openid-configuration:
//    the quickstart serves the same document there.
const oidc = await client.discovery(issuer, 'demo-app', 'demo-app-secret', undefined, insecure);
const oidcTokens = await client.clientCredentialsGrant(oidc, {});
check(!!oidcTokens.access_token, 'oidc-mode discovery, then client_credentials');

// 8. RFC 9728: the protected resource names this authorization server.
const prm = await (await fetch(new URL('/.well-known/oauth-protected-resource', base))).json();
check(prm.resource === base && prm.authorization_servers?.[0] === md.issuer,
  `protected resource metadata names ${prm.authorization_servers}`);

console.log('openid-client: all checks passed');
