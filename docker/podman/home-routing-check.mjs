// Checks nginx/nginx.docker.conf's routing on the nginx version compose names
// (1.27.5, built from its release tag), without containers: a tiny DNS
// responder on 127.0.0.1:5353 answers api1/api2, two stand-in HTTP servers on
// 127.0.0.2-3:8080 say who answered. It prints each client's home for POSTs,
// the instances a GET reaches, and how long nginx takes to follow api1 to a
// new address. docs/compose-verification.md says how it was run.
import dgram from 'node:dgram';
import http from 'node:http';
const addresses = { api1: '127.0.0.2', api2: '127.0.0.3' };
// A minimal DNS responder: A queries for api1/api2 only.
const dns = dgram.createSocket('udp4');
dns.on('message', (msg, rinfo) => {
  let i = 12; const labels = [];
  while (msg[i] !== 0) { labels.push(msg.subarray(i + 1, i + 1 + msg[i]).toString()); i += msg[i] + 1; }
  const qend = i + 5; const name = labels.join('.'); const qtype = msg.readUInt16BE(i + 1);
  const ip = addresses[name.split('.')[0]];
  const header = Buffer.from(msg.subarray(0, 12)); header[2] = 0x81; header[3] = ip ? 0x80 : 0x83;
  const answers = ip && qtype === 1 ? 1 : 0;
  header.writeUInt16BE(1, 4); header.writeUInt16BE(answers, 6); header.writeUInt16BE(0, 8); header.writeUInt16BE(0, 10);
  const parts = [header, msg.subarray(12, qend)];
  if (answers) { const rr = Buffer.alloc(16); rr.writeUInt16BE(0xc00c, 0); rr.writeUInt16BE(1, 2); rr.writeUInt16BE(1, 4); rr.writeUInt32BE(1, 6); rr.writeUInt16BE(4, 10); ip.split('.').forEach((o, k) => { rr[12 + k] = Number(o); }); parts.push(rr); }
  dns.send(Buffer.concat(parts), rinfo.port, rinfo.address);
});
await new Promise((r) => dns.bind(5353, '127.0.0.1', r));
const servers = {};
function serve(name, host) {
  const s = http.createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json', 'x-crebito-instance': name }); res.end('{"limite":1,"saldo":1}'); }); });
  return new Promise((r) => s.listen(8080, host, () => { servers[name] = s; r(); }));
}
await serve('api-1', addresses.api1); await serve('api-2', addresses.api2);
console.log('ready');
const post = async (client) => (await fetch(`http://127.0.0.1:9999/clientes/${client}/transacoes`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"valor":1,"tipo":"c","descricao":"x"}' })).headers.get('x-crebito-instance');
const get = async (client) => (await fetch(`http://127.0.0.1:9999/clientes/${client}/extrato`)).headers.get('x-crebito-instance');
await new Promise((r) => setTimeout(r, 1500));
const homes = {};
for (let round = 0; round < 10; round++) for (let c = 1; c <= 5; c++) { (homes[c] ??= new Set()).add(await post(c)); }
console.log('POST homes:', Object.fromEntries(Object.entries(homes).map(([c, s]) => [c, [...s]])));
const gets = new Set(); for (let k = 0; k < 10; k++) gets.add(await get(1));
console.log('GET instances for client 1:', [...gets]);
// api1 "restarts" on a new address.
await new Promise((r) => servers['api-1'].close(r)); addresses.api1 = '127.0.0.4'; await serve('api-1', '127.0.0.4');
const start = Date.now(); let seen = false;
while (Date.now() - start < 10000) { const a = []; for (let c = 1; c <= 5; c++) a.push(await post(c)); if (a.includes('api-1')) { seen = true; break; } await new Promise((r) => setTimeout(r, 100)); }
console.log(seen ? `api-1 back on its new address after ${Date.now() - start} ms` : 'api-1 NOT back within 10 s');
const after = {};
for (let round = 0; round < 10; round++) for (let c = 1; c <= 5; c++) { (after[c] ??= new Set()).add(await post(c)); }
console.log('POST homes after:', Object.fromEntries(Object.entries(after).map(([c, s]) => [c, [...s]])));
process.exit(0);
