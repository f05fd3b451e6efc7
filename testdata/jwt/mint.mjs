// Mints the JWT fixtures of testdata/jwt with stock Node.js libraries
// (jose and jsonwebtoken), so that a Go test can check that tokens made
// outside this project open a room. See README.md beside this file.
//
//   node mint.mjs OUTDIR
//
// makes fresh keys (the private ones stay in OUTDIR/private and are not
// committed), and writes OUTDIR/public.pem, OUTDIR/jwks.json,
// OUTDIR/hs256.secret and OUTDIR/tokens.json.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, UnsecuredJWT, exportJWK } from 'jose';
import jsonwebtoken from 'jsonwebtoken';

const out = process.argv[2];
if (!out) {
  console.error('usage: node mint.mjs OUTDIR');
  process.exit(2);
}
mkdirSync(join(out, 'private'), { recursive: true });

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ed = generateKeyPairSync('ed25519');
const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }); // not given to the relay
const secret = randomBytes(32).toString('base64url');

const pub = (k) => k.publicKey.export({ type: 'spki', format: 'pem' });
const priv = (k) => k.privateKey.export({ type: 'pkcs8', format: 'pem' });
writeFileSync(join(out, 'public.pem'), pub(rsa) + pub(ec) + pub(ed));
writeFileSync(join(out, 'hs256.secret'), secret + '\n');
for (const [name, k] of Object.entries({ rsa, ec, ed, stranger })) {
  writeFileSync(join(out, 'private', name + '.pem'), priv(k), { mode: 0o600 });
}
const jwk = async (k, kid, alg) => ({ ...(await exportJWK(k.publicKey)), kid, alg, use: 'sig' });
writeFileSync(join(out, 'jwks.json'), JSON.stringify({
  keys: [await jwk(rsa, 'rsa-1', 'RS256'), await jwk(ec, 'ec-1', 'ES256'), await jwk(ed, 'ed-1', 'EdDSA')],
}, null, 2) + '\n');

const y2100 = 4102444800; // 2100-01-01T00:00:00Z
const iat = Math.floor(Date.now() / 1000);
const hmac = new TextEncoder().encode(secret);
const joseSign = (claims, alg, key, kid) =>
  new SignJWT(claims).setProtectedHeader(kid ? { alg, kid, typ: 'JWT' } : { alg, typ: 'JWT' }).sign(key);
const player = (sub, extra = {}) => ({
  room: 'node-*', publish: true, subscribe: true, sub, name: 'Node ' + sub, iat, exp: y2100, ...extra,
});

const tokens = {
  // Each opens any room node-*, as client SUB named "Node SUB".
  'hs256-jose': await joseSign(player('hs256-jose'), 'HS256', hmac),
  'rs256-jose': await joseSign(player('rs256-jose'), 'RS256', rsa.privateKey, 'rsa-1'),
  'es256-jose': await joseSign(player('es256-jose'), 'ES256', ec.privateKey, 'ec-1'),
  'eddsa-jose': await joseSign(player('eddsa-jose'), 'EdDSA', ed.privateKey, 'ed-1'),
  'hs256-jsonwebtoken': jsonwebtoken.sign(player('hs256-jsonwebtoken'), secret, { algorithm: 'HS256' }),
  'rs256-jsonwebtoken': jsonwebtoken.sign(player('rs256-jsonwebtoken'), priv(rsa), { algorithm: 'RS256', keyid: 'rsa-1' }),
  'es256-jsonwebtoken': jsonwebtoken.sign(player('es256-jsonwebtoken'), priv(ec), { algorithm: 'ES256' }),
  // A viewer: subscribe only, no sub and no name.
  'eddsa-viewer': await joseSign({ room: 'node-*', subscribe: true, iat, exp: y2100 }, 'EdDSA', ed.privateKey, 'ed-1'),
  // An admin of the rooms node-*.
  'es256-admin': await joseSign({ room: 'node-*', admin: true, iat, exp: y2100 }, 'ES256', ec.privateKey, 'ec-1'),
  // Each of these must be refused.
  'expired': await joseSign(player('late', { iat: 1577836800, exp: 1577840400 }), 'RS256', rsa.privateKey, 'rsa-1'),
  'nbf-future': await joseSign(player('early', { nbf: 4070908800 }), 'ES256', ec.privateKey, 'ec-1'),
  'no-exp': jsonwebtoken.sign({ room: 'node-*', publish: true, subscribe: true }, secret, { algorithm: 'HS256', noTimestamp: true }),
  'alg-none': new UnsecuredJWT(player('none')).encode(),
  'hs256-with-public-pem': await joseSign(player('confused'), 'HS256', new TextEncoder().encode(readFileSync(join(out, 'public.pem'), 'utf8'))),
  'hs256-with-rsa-pem': await joseSign(player('confused'), 'HS256', new TextEncoder().encode(pub(rsa))),
  'rs256-stranger': await joseSign(player('stranger'), 'RS256', stranger.privateKey, 'rsa-1'),
  'wrong-room': await joseSign({ ...player('lost'), room: 'elsewhere' }, 'EdDSA', ed.privateKey, 'ed-1'),
};
writeFileSync(join(out, 'tokens.json'), JSON.stringify(tokens, null, 2) + '\n');
console.log(`wrote ${Object.keys(tokens).length} tokens to ${join(out, 'tokens.json')}`);
