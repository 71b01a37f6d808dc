// Backups of the HA profile, the parts decided without a cluster: which
// segments a new primary pushes after a failover (the old timeline's, never
// its own, never a .partial), the stanza naming every node, and a restored
// node's configuration stripped of what belonged to that node.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { earlierTimelineSegments } from '../../src/stack/backup/ha.js';
import { configurationText, type BackupPlan } from '../../src/stack/backup/pgbackrest.js';
import { forgetPatroniNode } from '../../src/stack/backup/restore.js';

describe('the segments a new primary pushes after a failover', () => {
  it('takes the complete segments of earlier timelines, not the new timeline, history files or partials', () => {
    const walFiles = [
      '000000010000000000000004',
      '000000010000000000000005',
      '000000010000000000000006.partial',
      '00000002.history',
      '000000020000000000000006',
      '000000020000000000000007',
      'archive_status',
    ];
    expect(earlierTimelineSegments(walFiles)).toEqual(['000000010000000000000004', '000000010000000000000005']);
  });

  it('takes nothing from a primary that never changed timeline', () => {
    expect(earlierTimelineSegments(['000000010000000000000001', '000000010000000000000002'])).toEqual([]);
  });
});

describe("the HA stanza in pgBackRest's configuration", () => {
  it('names every node as pg1, pg2, pg3 by its socket directory and data directory, and holds no key', () => {
    const plan = {
      directory: '/data/backup',
      repository: '/data/backup/repo',
      keyFile: '/data/backup/key',
      configFile: '/data/backup/pgbackrest.conf',
      pgDataDirectory: '/data/ha/nodes/pg1',
      socketDirectory: '/data/ha/nodes/pg1-socket',
      port: 5432,
      retentionFull: 2,
      archiveTimeoutS: 60,
      archiveQueueMaxMb: 4096,
      runAs: undefined,
      superuser: 'postgres',
      haNodes: ['pg1', 'pg2', 'pg3'].map((name) => ({
        name,
        dataDirectory: `/data/ha/nodes/${name}`,
        socketDirectory: `/data/ha/nodes/${name}-socket`,
      })),
    } satisfies BackupPlan;
    const text = configurationText(plan);
    for (const index of [1, 2, 3]) {
      expect(text).toContain(`pg${index}-path=/data/ha/nodes/pg${index}\n`);
      expect(text).toContain(`pg${index}-socket-path=/data/ha/nodes/pg${index}-socket\n`);
      expect(text).toContain(`pg${index}-user=postgres\n`);
    }
    expect(text).not.toMatch(/cipher-pass/);
  });
});

describe('a cluster restored from an HA node', () => {
  it("loses Patroni's settings for that node and its standby signal, and keeps the rest", () => {
    const pgData = fs.mkdtempSync(path.join(os.tmpdir(), 'crebito-forget-'));
    try {
      fs.writeFileSync(path.join(pgData, 'postgresql.base.conf'), '');
      fs.writeFileSync(path.join(pgData, 'standby.signal'), '');
      fs.writeFileSync(
        path.join(pgData, 'postgresql.conf'),
        [
          '# It will be overwritten by Patroni!',
          "include 'postgresql.base.conf'",
          "hba_file = '/gone/pg1/pg_hba.conf'",
          "listen_addresses = '10.200.1.11'",
          "synchronous_standby_names = '*'",
          "primary_conninfo = 'host=10.200.1.12'",
          "max_connections = '100'",
          "wal_level = 'replica'",
        ].join('\n'),
      );
      forgetPatroniNode(pgData);
      const text = fs.readFileSync(path.join(pgData, 'postgresql.conf'), 'utf8');
      expect(text).toContain("include 'postgresql.base.conf'");
      expect(text).toContain("max_connections = '100'");
      expect(text).toContain("wal_level = 'replica'");
      for (const gone of ['hba_file', 'listen_addresses', 'synchronous_standby_names', 'primary_conninfo', 'Patroni!'])
        expect(text).not.toContain(gone);
      expect(fs.existsSync(path.join(pgData, 'standby.signal'))).toBe(false);
    } finally {
      fs.rmSync(pgData, { recursive: true, force: true });
    }
  });
});
