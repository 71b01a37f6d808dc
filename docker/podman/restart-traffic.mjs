// Bounded traffic for the compose restart check (docs/compose-verification.md):
//   node docker/podman/restart-traffic.mjs PORT RATE_PER_S DURATION_S
// RATE req/s for DURATION seconds (70% GET extrato, 30% unkeyed POST of a
// 1-cent credit), then one line per second: answers by status and by the
// instance that answered (x-crebito-instance), slowest, and how many took
// 900 ms or more; then the non-200 answers by kind.
import http from 'node:http';
const [port, rate, durationS] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
const seconds = [];
const start = Date.now();
let sent = 0;
const errors = {};
function record(second, status, instance, ms) {
  const s = (seconds[second] ??= { n: 0, status: {}, inst: {}, maxMs: 0, slow: 0 });
  s.n++; s.status[status] = (s.status[status] ?? 0) + 1; s.inst[instance] = (s.inst[instance] ?? 0) + 1;
  s.maxMs = Math.max(s.maxMs, ms); if (ms >= 900) s.slow++;
}
function one(i) {
  const t0 = Date.now();
  const second = Math.floor((t0 - start) / 1000);
  const client = 1 + (i % 5);
  const post = i % 10 < 3;
  const body = post ? JSON.stringify({ valor: 1, tipo: 'c', descricao: 'compose' }) : undefined;
  const req = http.request({ host: '127.0.0.1', port, agent, method: post ? 'POST' : 'GET', path: post ? `/clientes/${client}/transacoes` : `/clientes/${client}/extrato`,
    headers: post ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}, timeout: 5000 }, (res) => {
    let text = ''; res.on('data', (c) => { text += c; }); res.on('end', () => { record(second, res.statusCode, res.headers['x-crebito-instance'] ?? '-', Date.now() - t0); if (res.statusCode !== 200) { const k = `${res.statusCode} ${res.headers['x-crebito-instance'] ?? '-'} ${(/"erro":"([a-z_]+)"/.exec(text) ?? [])[1]}`; errors[k] = (errors[k] ?? 0) + 1; } });
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => record(second, 'err:' + e.message, '-', Date.now() - t0));
  req.end(body);
}
const timer = setInterval(() => {
  if (Date.now() - start >= durationS * 1000) { clearInterval(timer); setTimeout(report, 6000); return; }
  const due = Math.floor(((Date.now() - start) / 1000) * rate);
  while (sent < due) one(sent++);
}, 10);
function report() {
  seconds.forEach((s, i) => s && console.log(`t=${String(i).padStart(3)}s n=${s.n} status=${JSON.stringify(s.status)} by=${JSON.stringify(s.inst)} max_ms=${s.maxMs} slow=${s.slow}`));
  const all = seconds.filter(Boolean);
  console.log(`total sent=${sent} answered=${all.reduce((a, s) => a + s.n, 0)} slow(>=900ms)=${all.reduce((a, s) => a + s.slow, 0)} non200=${all.reduce((a, s) => a + Object.entries(s.status).filter(([k]) => k !== '200').reduce((b, [, v]) => b + v, 0), 0)}`);
  console.log('non-200 by kind', JSON.stringify(errors));
  agent.destroy();
}
