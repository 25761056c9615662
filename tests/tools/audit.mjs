// The graphql-http server audit (GraphQL over HTTP conformance) against a running packer-gateway.
//
//   AUDIT_URL=http://127.0.0.1:8000/graphql AUDIT_TOKEN=<admin token> node tests/tools/audit.mjs
//
// The service refuses anonymous requests, so every request of the audit carries the token.
// Prints every result, then one JSON summary line; exits 1 on any MUST or SHOULD failure.
import { auditServer } from 'graphql-http';

const url = process.env.AUDIT_URL;
const token = process.env.AUDIT_TOKEN;
if (!url || !token) {
  console.error('set AUDIT_URL and AUDIT_TOKEN');
  process.exit(2);
}

async function fetchWithToken(input, init = {}) {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
}

const results = await auditServer({ url, fetchFn: fetchWithToken });
// graphql-http reports a failed MUST as `error`, a failed SHOULD as `warn`, a failed MAY as
// `notice`.
const failures = { MUST: [], SHOULD: [], MAY: [] };
for (const result of results) {
  const level = result.name.split(' ')[0];
  if (result.status === 'ok') {
    console.log(`ok      ${result.id} ${result.name}`);
    continue;
  }
  let body = '';
  try {
    body = await result.response.text();
  } catch {
    body = '<body already read>';
  }
  console.log(`${result.status.padEnd(7)} ${result.id} ${result.name}`);
  console.log(`        ${result.reason}`);
  console.log(`        ${result.response.status} ${body.slice(0, 300)}`);
  (failures[level] ?? failures.MAY).push({ id: result.id, name: result.name, reason: result.reason });
}
const summary = {
  audits: results.length,
  ok: results.filter((r) => r.status === 'ok').length,
  must: failures.MUST.length,
  should: failures.SHOULD.length,
  may: failures.MAY.length,
  notices: failures.MAY.map((f) => `${f.id} ${f.name}`),
};
console.log(JSON.stringify(summary));
process.exit(summary.must + summary.should === 0 ? 0 : 1);
