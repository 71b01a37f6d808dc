// Renders an HA verdict JSON (results/ledger-check-ha-…-verdict.json) as the
// table the checker writes beside it: for a JSON written before the checker
// charged flaws to each fault, a run whose totals are 0 has 0 in every row,
// and a run with flaws is refused (its history must be judged again).
//
//   node dist/tools/ledger-check/ha-table.js results/ledger-check-ha-…-verdict.json

import fs from 'node:fs';
import { haVerdictMarkdown, type HaFaultVerdict, type HaVerdict } from './ha-verdict.js';

interface Summary {
  date: string;
  valid: boolean;
  loadAverage?: string;
  ha: Omit<HaVerdict, 'faults'> & {
    faults: (Pick<HaFaultVerdict, 'name' | 'atMs' | 'writeGapMs'> & Partial<HaFaultVerdict>)[];
  };
}

function main(): void {
  const [file, command = 'not recorded', loadAverage] = process.argv.slice(2);
  if (file === undefined) throw new Error('usage: ha-table.js <verdict.json> [command] [load average]');
  const summary = JSON.parse(fs.readFileSync(file, 'utf8')) as Summary;
  const clean =
    summary.ha.acknowledgedLost === 0 && summary.ha.moneyInvented === 0 && summary.ha.notAppliedLeftRow === 0;
  const faults = summary.ha.faults.map((fault) => {
    if (
      fault.acknowledgedLost !== undefined &&
      fault.moneyInvented !== undefined &&
      fault.notAppliedLeftRow !== undefined
    )
      return fault as HaFaultVerdict;
    if (!clean) throw new Error(`${file} has flaws but no per-fault counts: judge its history again`);
    return { ...fault, acknowledgedLost: 0, moneyInvented: 0, notAppliedLeftRow: 0 };
  });
  const out = file.replace(/\.json$/, '.md');
  fs.writeFileSync(
    out,
    haVerdictMarkdown(
      { ...summary.ha, faults },
      {
        date: summary.date,
        command,
        loadAverage: summary.loadAverage ?? loadAverage ?? 'not recorded',
        valid: summary.valid,
      },
    ),
  );
  console.log(`wrote ${out}`);
}

main();
