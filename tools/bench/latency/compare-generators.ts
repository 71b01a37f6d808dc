// What makes the second generators disagree with the bench's own at the
// public rate (docs/latency.md, The limit): on a stack of its own, the floor
// by the bench's generator and by wrk with several connection counts and
// policies, then PostgreSQL alone by the bench's generator and by pgbench
// (from each call's start, and from its schedule). Figures only, no verdict:
//
//   npm run build && flock /work/wt/measure.lock node dist/tools/bench/latency/compare-generators.js
//   (SECONDS_EACH=15 ROUNDS=1 MODE=durable SKIP_HTTP=1 SKIP_DB=1 as wanted)
import { withTarget } from '../../harness/target.js';
import { setupFor, runHttpScenario } from '../run-scenario.js';
import { HTTP_FLOOR, openAt } from '../scenarios.js';
import { nodeLoad } from '../load/node-load.js';
import { runWrkPaced } from './wrk-paced.js';
import { runPgbench } from './pgbench.js';
import { runDbAlone } from './db-alone.js';
import { uptime } from './public-latency.js';

const seconds = Number(process.env.SECONDS_EACH ?? 15);
const mode = (process.env.MODE ?? 'durable') as 'durable' | 'fast';
const f = (p: { p50: number; p99: number; p999?: number }) =>
  `p50 ${p.p50.toFixed(3)} p99 ${p.p99.toFixed(3)} p99.9 ${(p.p999 ?? 0).toFixed(3)}`;
await withTarget(
  { start: true, port: undefined, mode, out: '/tmp/scratch', dataDirectory: undefined } as never,
  async (target) => {
    const setup = setupFor(target.state());
    console.log('uptime before', uptime());
    const rate = { ratePerSecond: 340, durationSeconds: seconds };
    for (let round = 0; round < Number(process.env.ROUNDS ?? 1); round++) {
      if (process.env.SKIP_HTTP !== '1') {
        const { scenario, model } = openAt(HTTP_FLOOR, 'public');
        const ours = await runHttpScenario(setup, scenario, { generator: nodeLoad, model, durationSeconds: seconds });
        console.log('floor ours (new conn, from send)   ', f(ours.latencyMs), 'lag p99', ours.sendLagMs?.p99);
        for (const [connections, policy] of [
          [10, 'close'],
          [1, 'close'],
          [2, 'close'],
          [10, 'keep-alive'],
          [1, 'keep-alive'],
        ] as const) {
          const wrk = await runWrkPaced(setup.url, { ...rate, connections, policy });
          console.log(
            `floor wrk c${connections} ${policy}`.padEnd(36),
            f(wrk.latency),
            'rps',
            wrk.requestsPerSecond.toFixed(0),
          );
        }
      }
      if (process.env.SKIP_DB !== '1') {
        const ours = await runDbAlone(setup.databaseUrl, rate);
        console.log(
          'db ours                            ',
          f(ours.latency.summary()),
          'lag p99',
          ours.sendLag.summary().p99,
        );
        const poisson = await runDbAlone(setup.databaseUrl, { ...rate, arrivals: 'poisson' });
        console.log('db ours, Poisson from start        ', f(poisson.latency.summary()));
        const pg = await runPgbench(setup.databaseUrl, rate);
        console.log('db pgbench time                    ', f(pg.latency.summary()));
        console.log(
          'db pgbench time+lag                ',
          f(pg.fromSchedule.summary()),
          'lag',
          f(pg.scheduleLag.summary()),
        );
      }
    }
    console.log('uptime after', uptime());
  },
);
