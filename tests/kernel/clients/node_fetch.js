// node `fetch` (undici over the OpenSSL linked into the node binary) posting a file's content
// to https://<name>:<port><path>. <name> resolves to 127.0.0.1 for this process only (dns.lookup
// is replaced), so TLS SNI and Host carry <name> as with a real host.
// Usage: node node_fetch.js NAME PORT PATH HEADERS_JSON_FILE BODY_FILE [PARALLEL]
// PARALLEL (default 1) requests go out at once, each on a connection of its own.
'use strict';
const dns = require('dns');
const fs = require('fs');

const [name, port, path, headersFile, bodyFile, parallel = '1'] = process.argv.slice(2);
const realLookup = dns.lookup;
dns.lookup = function (host, options, callback) {
  if (typeof options === 'function') [callback, options] = [options, {}];
  if (host !== name) return realLookup.call(dns, host, options, callback);
  if (options && options.all) return callback(null, [{ address: '127.0.0.1', family: 4 }]);
  return callback(null, '127.0.0.1', 4);
};

async function post() {
  const res = await fetch(`https://${name}:${port}${path}`, {
    method: 'POST',
    headers: JSON.parse(fs.readFileSync(headersFile, 'utf8')),
    body: fs.readFileSync(bodyFile),
  });
  await res.text();
  return res.status;
}

(async () => {
  const statuses = await Promise.all(Array.from({ length: Number(parallel) }, post));
  const bad = statuses.find((s) => s !== 200);
  console.log(`status ${bad === undefined ? 200 : bad}`);
})().catch((e) => {
  console.error(`fetch failed: ${e.cause ? e.cause.code || e.cause.message : e.message}`);
  process.exit(1);
});
