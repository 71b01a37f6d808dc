// Patroni up to 3.0.2 on etcd's v3 API lets an old leader overwrite the
// leader key after its lease expired: measured here, a frozen primary that
// came back acknowledged writes that were then lost. The HA profile uses the
// v2 API and refuses etcd3 with such a Patroni, before anything starts.

import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkDcsBackend, installedPatroniVersion } from '../../src/stack/ha/patroni.js';
import { LAUNCHER_ENTRY } from '../../src/stack/paths.js';
import { freePort, makeDataDirectory, startProcess } from '../../tools/harness/stack.js';

describe('the DCS backend the HA profile accepts', () => {
  it('refuses etcd3 with Patroni 3.0.2 and older, accepts it from 3.0.3, and accepts etcd (v2) always', () => {
    expect(() => checkDcsBackend('etcd3', 'patroni 3.0.2')).toThrow(/etcd3 backend can lose acknowledged writes/);
    expect(() => checkDcsBackend('etcd3', 'patroni 2.1.9')).toThrow(/etcd3/);
    expect(() => checkDcsBackend('etcd3', 'patroni 3.0.3')).not.toThrow();
    expect(() => checkDcsBackend('etcd3', 'patroni 3.3.0')).not.toThrow();
    expect(() => checkDcsBackend('etcd', 'patroni 3.0.2')).not.toThrow();
  });

  it('CREBITO_HA=on with CREBITO_HA_DCS=etcd3 and the installed Patroni stops the launcher with the reason', async () => {
    expect(installedPatroniVersion()).toMatch(/3\.0\.2/);
    const dataDirectory = makeDataDirectory();
    const launcher = startProcess({
      name: 'the stack',
      entry: LAUNCHER_ENTRY,
      environment: {
        PORT: String(await freePort()),
        CREBITO_DATA_DIR: dataDirectory,
        CREBITO_HA: 'on',
        CREBITO_HA_DCS: 'etcd3',
      },
      readyWhen: { outputIncludes: '"msg":"up on http' },
      readyTimeoutMs: 30_000,
    });
    await expect(launcher).rejects.toThrow(/exited \(1\)[\s\S]*etcd3 backend can lose acknowledged writes/);
    fs.rmSync(dataDirectory, { recursive: true, force: true });
  });
});
