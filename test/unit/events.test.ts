// The change stream's pure parts: how far the slot may be confirmed
// (only past commits the broker holds wholly, in commit order), how a row
// becomes an event, the per-client dedupe a consumer uses, and the verdict
// the checker gives a stream.

import { describe, expect, it } from 'vitest';
import { Confirmations } from '../../src/events/publisher/confirmations.js';
import { bigIntToLsn, lsnToBigInt } from '../../src/events/publisher/lsn.js';
import { eventOf, isoMicroseconds } from '../../src/events/publisher/message.js';
import { haEventsHba, haEventsSettings } from '../../src/events/ha.js';
import { postgresSettingsFor, readEventsConfig } from '../../src/events/config.js';
import { BUSY_IDLE_SHARE, LIFT_BYTES, LIFT_SECONDS, shouldCap } from '../../src/events/cpu-cap.js';
import { isLocalWalSender, parsePlacement, placementText } from '../../src/events/cpu.js';
import { ClientDedupe } from '../../tools/events/dedupe.js';
import type { Delivery } from '../../tools/events/recorder.js';
import { judgeStream, type LedgerRow } from '../../tools/ledger-check/stream-verdict.js';

describe('confirmations', () => {
  it('moves the slot past a commit only once every message of it and of every commit before it is confirmed', () => {
    const confirmations = new Confirmations();
    confirmations.begin(0);
    const firstA = confirmations.publishing();
    const firstB = confirmations.publishing();
    confirmations.commit(100n);
    confirmations.begin(0);
    const second = confirmations.publishing();
    confirmations.commit(200n);
    second();
    expect(confirmations.confirmedLsn).toBe(0n);
    firstA();
    expect(confirmations.confirmedLsn).toBe(0n);
    firstB();
    expect(confirmations.confirmedLsn).toBe(200n);
    expect(confirmations.idle).toBe(true);
  });

  it('moves on a keepalive only when nothing read is still owed', () => {
    const confirmations = new Confirmations();
    confirmations.begin(0);
    const confirm = confirmations.publishing();
    confirmations.caughtUpTo(500n);
    expect(confirmations.confirmedLsn).toBe(0n);
    confirmations.commit(300n);
    confirm();
    confirmations.caughtUpTo(500n);
    expect(confirmations.confirmedLsn).toBe(500n);
  });

  it('refuses a message confirmed twice', () => {
    const confirmations = new Confirmations();
    confirmations.begin(0);
    const confirm = confirmations.publishing();
    confirm();
    expect(confirm).toThrow(/twice/);
  });
});

describe('events', () => {
  it('reads WAL positions both ways', () => {
    expect(bigIntToLsn(lsnToBigInt('16/B374D848'))).toBe('16/B374D848');
    expect(lsnToBigInt('1/0')).toBe(1n << 32n);
  });

  it('writes realizada_em as the API does, with six fractional digits', () => {
    expect(isoMicroseconds('2026-12-06 02:40:00.1234+00')).toBe('2026-12-06T02:40:00.123400Z');
    expect(isoMicroseconds('2026-12-06 02:40:00+00')).toBe('2026-12-06T02:40:00.000000Z');
    expect(() => isoMicroseconds('Sun Dec 06 2026')).toThrow();
  });

  it('types the known columns, names the key, and carries an unknown column through', () => {
    const columns = [
      { name: 'id', typeOid: 20, typeName: null },
      { name: 'cliente_id', typeOid: 23, typeName: null },
      { name: 'valor', typeOid: 23, typeName: null },
      { name: 'tipo', typeOid: 1042, typeName: null },
      { name: 'descricao', typeOid: 1043, typeName: null },
      { name: 'realizada_em', typeOid: 1184, typeName: null },
      { name: 'saldo_apos', typeOid: 20, typeName: null },
      { name: 'chave_api_id', typeOid: 23, typeName: null },
      { name: 'transferencia_id', typeOid: 2950, typeName: null },
    ];
    const row = {
      id: '7',
      cliente_id: '2',
      valor: '100',
      tipo: 'd',
      descricao: 'x',
      realizada_em: '2026-12-06 02:40:00.5+00',
      saldo_apos: '-100',
      chave_api_id: '3',
      transferencia_id: 'a-b',
    };
    expect(eventOf(columns, row, (id) => (id === 3 ? 'loja' : null))).toEqual({
      id: 7,
      cliente_id: 2,
      valor: 100,
      tipo: 'd',
      descricao: 'x',
      realizada_em: '2026-12-06T02:40:00.500000Z',
      saldo_apos: -100,
      chave_api_id: 3,
      chave_api: 'loja',
      transferencia_id: 'a-b',
    });
  });

  it('dedupes per client by the highest id seen', () => {
    const dedupe = new ClientDedupe();
    expect(
      [
        { id: 5, cliente_id: 1 },
        { id: 6, cliente_id: 2 },
        { id: 5, cliente_id: 1 },
        { id: 4, cliente_id: 2 },
        { id: 9, cliente_id: 1 },
      ].map((event) => dedupe.accept(event)),
    ).toEqual([true, true, false, false, true]);
  });
});

describe('the stream verdict', () => {
  const row = (id: number, cliente_id: number): LedgerRow => ({
    id,
    cliente_id,
    valor: 1,
    tipo: 'c',
    descricao: `d${id}`,
    realizada_em: '2026-12-06T02:40:00.000000Z',
    saldo_apos: id,
  });
  const delivery = (ledgerRow: LedgerRow, change: Partial<LedgerRow> = {}): Delivery => ({
    event: { ...ledgerRow, tipo: 'c', chave_api: null, ...change } as Delivery['event'],
    receivedAtMs: Date.parse(ledgerRow.realizada_em) + 10,
    redelivered: false,
  });
  const ledger = [row(1, 1), row(2, 2), row(3, 1)];

  it('holds with duplicates, and reports missing, invented, changed and reordered rows', () => {
    const good = judgeStream(
      [delivery(ledger[0]!), delivery(ledger[1]!), delivery(ledger[0]!), delivery(ledger[2]!)],
      ledger,
      [1, 2, 3],
    );
    expect(good).toMatchObject({ holds: true, duplicates: 1, missing: [], lagMs: { p50: 10, max: 10 } });
    expect(judgeStream([delivery(ledger[0]!), delivery(ledger[1]!)], ledger, [3])).toMatchObject({
      holds: false,
      missing: [3],
      acknowledgedMissing: [3],
    });
    expect(judgeStream([...ledger.map((r) => delivery(r)), delivery(row(9, 1))], ledger, []).invented).toEqual([9]);
    expect(
      judgeStream([delivery(ledger[0]!, { valor: 2 }), delivery(ledger[1]!), delivery(ledger[2]!)], ledger, [])
        .invented,
    ).toEqual([1]);
    expect(
      judgeStream([delivery(ledger[2]!), delivery(ledger[1]!), delivery(ledger[0]!)], ledger, []).outOfOrderClients,
    ).toEqual([1]);
    // Rows at or below since (from before the run) may come, held to the ledger's content, never missing.
    expect(judgeStream([delivery(ledger[1]!), delivery(ledger[2]!)], ledger, [], 1)).toMatchObject({
      holds: true,
      ledgerRows: 2,
    });
    expect(
      judgeStream([delivery(ledger[0]!, { valor: 9 }), delivery(ledger[1]!), delivery(ledger[2]!)], ledger, [], 1)
        .invented,
    ).toEqual([1]);
  });
});

describe('the database settings the stream needs', () => {
  it('adds nothing when off; logical decoding and the bound when on', () => {
    expect(postgresSettingsFor(readEventsConfig({}))).toEqual([]);
    expect(postgresSettingsFor(readEventsConfig({ CREBITO_EVENTS: 'on', CREBITO_EVENTS_WAL_KEEP_MB: '64' }))).toEqual([
      'wal_level=logical',
      'max_slot_wal_keep_size=64MB',
    ]);
    expect(() => readEventsConfig({ CREBITO_EVENTS: 'yes' })).toThrow(/one of off, on/);
    expect(() => readEventsConfig({ CREBITO_EVENTS_BROKER_PORT: '36189' })).toThrow(/between/);
    expect(() => readEventsConfig({ CREBITO_EVENTS_URL: 'http://x' })).toThrow(/amqp/);
    expect(readEventsConfig({}).cpu).toBe('low');
    expect(() => readEventsConfig({ CREBITO_EVENTS_CPU: 'high' })).toThrow(/one of idle, low, normal/);
  });

  it("caps the stream's CPU only while the machine is busy and the stream near, and lifts it otherwise", () => {
    const busy = BUSY_IDLE_SHARE / 2;
    const near = { bytes: 0, seconds: 0 };
    expect(shouldCap(false, near, busy)).toBe(true);
    expect(shouldCap(true, { bytes: LIFT_BYTES, seconds: LIFT_SECONDS }, busy)).toBe(true);
    expect(shouldCap(true, { bytes: LIFT_BYTES + 1, seconds: 0 }, busy)).toBe(false);
    // Regression: bytes alone let a capped stream at a moderate rate fall minutes behind under the WAL bound.
    expect(shouldCap(true, { bytes: 1, seconds: LIFT_SECONDS + 0.1 }, busy)).toBe(false);
    // Lifted, it comes back only once the stream is well within both bounds, not at their edge.
    expect(shouldCap(false, { bytes: LIFT_BYTES - 1, seconds: 0 }, busy)).toBe(false);
    expect(shouldCap(false, { bytes: 0, seconds: LIFT_SECONDS - 1 }, busy)).toBe(false);
    expect(shouldCap(false, { bytes: LIFT_BYTES / 2 - 1, seconds: 1 }, busy)).toBe(true);
    expect(shouldCap(true, undefined, busy)).toBe(false);
    // CPU to spare: the stream takes it.
    expect(shouldCap(true, near, BUSY_IDLE_SHARE)).toBe(false);
  });

  it("passes the stream's CPU placement to the publisher as text, and refuses anything else", () => {
    for (const placement of [
      { kind: 'cgroup', directory: '/sys/fs/cgroup/cpu/crebito-events-5682' },
      { kind: 'nice', nice: 19 },
      { kind: 'none' },
    ] as const)
      expect(parsePlacement(placementText(placement))).toEqual(placement);
    expect(parsePlacement(undefined)).toEqual({ kind: 'none' });
    expect(() => parsePlacement('nice:-5')).toThrow(/placement/);
    expect(() => parsePlacement('renice')).toThrow(/placement/);
    // A pid that is no WAL sender (this very process) is never moved.
    expect(isLocalWalSender(process.pid)).toBe(false);
  });

  it('gives Patroni the permanent logical slot, with use_slots and logical WAL, only when on', () => {
    expect(haEventsSettings({})).toEqual({});
    expect(haEventsHba({}, '10.0.0.0/24')).toEqual([]);
    const settings = haEventsSettings({ CREBITO_EVENTS: 'on' }) as {
      postgresql: { use_slots: boolean; parameters: Record<string, string> };
      slots: object;
    };
    expect(settings.slots).toEqual({ crebito_eventos: { type: 'logical', database: 'crebito', plugin: 'pgoutput' } });
    expect(settings.postgresql.use_slots).toBe(true);
    expect(settings.postgresql.parameters).toMatchObject({ wal_level: 'logical', hot_standby_feedback: 'on' });
    expect(haEventsHba({ CREBITO_EVENTS: 'on' }, '10.0.0.0/24')).toEqual([
      'host replication postgres 10.0.0.0/24 scram-sha-256',
    ]);
  });
});
