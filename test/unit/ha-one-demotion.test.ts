// The script Patroni starts through (src/stack/ha/patroni-one-demotion.py),
// loaded into the installed Patroni's Python: the main loop leaves a
// demotion after losing the DCS to the background run already doing it, and
// lets every other demotion through.

import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { PATRONI_START } from '../../src/stack/ha/patroni.js';

// Calls the script's demote_once as Patroni would, with Patroni's own demote replaced by a recorder.
const PROBE = `
import importlib.util, json, sys, threading
spec = importlib.util.spec_from_file_location('one_demotion', sys.argv[1])
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)
from patroni import ha
calls = []
script.demote = lambda self, mode: calls.append(mode)

class Executor:
    scheduled_action = None

class Node:
    _async_executor = Executor()

def demote(scheduled, mode, in_background=False):
    Node._async_executor.scheduled_action = scheduled
    worker = threading.Thread(target=script.demote_once, args=(Node(), mode))
    worker.start() if in_background else script.demote_once(Node(), mode)
    if in_background:
        worker.join()
    calls.append('|')

demote(script.DCS_DEMOTION, 'offline')
demote(None, 'offline')
demote(script.DCS_DEMOTION, 'offline', in_background=True)
demote(script.DCS_DEMOTION, 'immediate')
demote('restarting after failure', 'offline')
print(json.dumps({'installed': ha.Ha.demote is script.demote_once, 'calls': calls}))
`;

describe('patroni-one-demotion.py', () => {
  it('skips only a second demotion after losing the DCS while the first runs in the background', () => {
    const output = execFileSync(PATRONI_START.python, ['-c', PROBE, PATRONI_START.script], { encoding: 'utf8' });
    const result = JSON.parse(output) as { installed: boolean; calls: string[] };
    expect(result.installed).toBe(true);
    // One entry per demote() above, '|' after each: the first is skipped, the others reach Patroni.
    expect(result.calls).toEqual(['|', 'offline', '|', 'offline', '|', 'immediate', '|', 'offline', '|']);
  });
});
