// Owns every setting crebito reads from its environment. Each is declared
// once here (its variable, default, bounds, which program reads it, and what
// it is for); the instance and the launcher parse their configuration from
// these declarations, the launcher passes instance settings on by walking
// them, and a test checks docs/operating.md's table against them. A value that is
// present but malformed stops the process at start, rather than being
// half-understood. Limits carry their unit last.

import { RESERVED_CONNECTIONS } from './limits.js';

export type Environment = Record<string, string | undefined>;

/**
 * Who reads a setting. 'instance': each API instance; 'stack': the launcher
 * (`npm start`); a setting read by both is one the launcher checks and then
 * passes on to every instance it starts. The others are for the programs
 * around the service: 'compose' the database container of docker compose
 * (sql/roles/docker-init.sh), 'bench' `npm run bench` and what it starts,
 * 'tests' the test suite.
 */
export type Reader = 'instance' | 'stack' | 'compose' | 'bench' | 'tests';

interface Declared {
  env: string;
  /** The variable's name before it was renamed: still read for one release, with a warning (formerNamesSet). */
  formerEnv?: string;
  readers: readonly Reader[];
  /** One line for the settings table (docs/operating.md). */
  meaning: string;
}

export interface IntegerSetting extends Declared {
  kind: 'integer';
  default: number;
  min: number;
  max: number;
}

export interface ChoiceSetting<Choice extends string = string> extends Declared {
  kind: 'choice';
  default: Choice;
  choices: readonly Choice[];
}

export interface TextSetting extends Declared {
  kind: 'text';
  /** undefined: unset unless given. */
  default: string | undefined;
  /** How the settings table shows a default that is computed or absent. */
  defaultShown: string;
}

export type Setting = IntegerSetting | ChoiceSetting | TextSetting;

const integer = (declared: Omit<IntegerSetting, 'kind'>): IntegerSetting => ({ kind: 'integer', ...declared });
const choice = <Choice extends string>(declared: Omit<ChoiceSetting<Choice>, 'kind'>): ChoiceSetting<Choice> => ({
  kind: 'choice',
  ...declared,
});
// Keeps whether the default is a string or undefined in the setting's type,
// so a setting with a default reads as a string.
const text = <Default extends string | undefined>(
  declared: Omit<TextSetting, 'kind' | 'default'> & { default: Default },
) => ({ kind: 'text', ...declared }) as TextSetting & { default: Default };

const STACK = ['stack'] as const;
const COMPOSE = ['compose'] as const;
const BENCH = ['bench'] as const;
const TESTS = ['tests'] as const;
const INSTANCE = ['instance'] as const;
const BOTH = ['instance', 'stack'] as const;

export const SETTINGS = {
  port: integer({
    env: 'PORT',
    default: 9999,
    min: 1,
    max: 65535,
    readers: STACK,
    meaning: 'public port (nginx, or the instances without nginx)',
  }),
  databaseUrl: text({
    env: 'DATABASE_URL',
    default: undefined,
    defaultShown: 'unset: embedded',
    readers: BOTH,
    meaning:
      'an external PostgreSQL, as the role the instances log in as (`crebito_api`: see docs/security.md, Database roles); an instance alone requires it',
  }),
  databaseOwnerUrl: text({
    env: 'DATABASE_OWNER_URL',
    default: undefined,
    defaultShown: 'unset: `DATABASE_URL`',
    readers: STACK,
    meaning: "the same database as the schema's owner, which applies `sql/` at start; never given to the instances",
  }),
  auth: choice({
    env: 'CREBITO_AUTH',
    default: 'off',
    choices: ['off', 'keys'],
    readers: BOTH,
    meaning:
      '`keys`: every API route asks for `Authorization: Bearer <key>` (keys made by `npm run keys`; see ' +
      'docs/security.md, API keys), and `CREBITO_RATE_LIMIT_PER_S` counts per key',
  }),
  allowSuperuser: choice({
    env: 'CREBITO_ALLOW_SUPERUSER',
    default: 'off',
    choices: ['off', 'on'],
    readers: BOTH,
    meaning: "`on` lets instances log in as a superuser or as the schema's owner, which they refuse by default",
  }),
  dataDirectory: text({
    env: 'CREBITO_DATA_DIR',
    default: undefined,
    defaultShown: '`.data`',
    readers: STACK,
    meaning: 'embedded PostgreSQL data, sockets, pid and state files',
  }),
  databaseMode: choice({
    env: 'CREBITO_DATABASE_MODE',
    default: 'durable',
    choices: ['durable', 'fast'],
    readers: STACK,
    meaning:
      '`fast` turns fsync, synchronous_commit and full_page_writes off in the embedded database: a crash may lose acknowledged transactions (benchmarks only)',
  }),
  ha: choice({
    env: 'CREBITO_HA',
    default: 'off',
    choices: ['off', 'on'],
    readers: STACK,
    meaning:
      '`on`: three PostgreSQL 15 nodes under Patroni with etcd and HAProxy instead of the embedded server (root; see docs/ha.md)',
  }),
  haDcs: choice({
    env: 'CREBITO_HA_DCS',
    default: 'etcd',
    choices: ['etcd', 'etcd3'],
    readers: STACK,
    meaning:
      "Patroni's backend for `CREBITO_HA=on`: `etcd` (etcd's v2 API); `etcd3` is refused with a Patroni known to lose writes on it",
  }),
  backups: choice({
    env: 'CREBITO_BACKUPS',
    default: 'on',
    choices: ['on', 'off'],
    readers: STACK,
    meaning:
      'continuous WAL archiving and scheduled base backups of the embedded database (or, with CREBITO_HA=on, of its nodes) ' +
      'with pgBackRest, encrypted (see docs/backups.md); `off`: no second copy',
  }),
  backupRepository: text({
    env: 'CREBITO_BACKUP_REPO',
    default: undefined,
    defaultShown: '`<data>/backup/repo`',
    readers: STACK,
    meaning: 'the pgBackRest repository: put it on another disk or mount, or the backups die with the host',
  }),
  backupKeyFile: text({
    env: 'CREBITO_BACKUP_KEY_FILE',
    default: undefined,
    defaultShown: '`<data>/backup/key`',
    readers: STACK,
    meaning: "the repository's encryption key (made on first start); keep a copy away from the repository and the host",
  }),
  backupIntervalS: integer({
    env: 'CREBITO_BACKUP_INTERVAL_S',
    default: 21_600,
    min: 60,
    max: 2_592_000,
    readers: STACK,
    meaning: 'the launcher takes an incremental backup this long after the last one',
  }),
  backupFullIntervalS: integer({
    env: 'CREBITO_BACKUP_FULL_INTERVAL_S',
    default: 604_800,
    min: 60,
    max: 31_536_000,
    readers: STACK,
    meaning: 'a scheduled backup is full when the last full one is this old',
  }),
  backupRetentionFull: integer({
    env: 'CREBITO_BACKUP_RETENTION_FULL',
    default: 2,
    min: 1,
    max: 9_999,
    readers: STACK,
    meaning: 'full backups kept (with their incrementals and WAL); older ones expire after each backup',
  }),
  archiveTimeoutS: integer({
    env: 'CREBITO_ARCHIVE_TIMEOUT_S',
    default: 60,
    min: 1,
    max: 86_400,
    readers: STACK,
    meaning:
      "PostgreSQL's `archive_timeout`: a WAL segment is closed and archived at least this often while writes come in (bounds what a lost host loses)",
  }),
  archiveQueueMaxMb: integer({
    env: 'CREBITO_ARCHIVE_QUEUE_MAX_MB',
    default: 4096,
    min: 16,
    max: 10_485_760,
    readers: STACK,
    meaning:
      'WAL waiting to be archived past this is dropped from the archive (loudly) rather than fill the disk and stop the ledger',
  }),
  backupStatusFile: text({
    env: 'CREBITO_BACKUP_STATUS_FILE',
    default: '',
    defaultShown: 'empty: none',
    readers: INSTANCE,
    meaning:
      'where an instance reads the age of the last backup and archived WAL for `/health` and `/metrics` (the launcher sets it)',
  }),
  embeddedPostgresPort: integer({
    env: 'CREBITO_POSTGRES_PORT',
    default: 54329,
    min: 1,
    max: 65535,
    readers: STACK,
    meaning: "port number of the embedded server's unix socket (no TCP is opened)",
  }),
  instanceCount: integer({
    env: 'CREBITO_INSTANCES',
    default: 2,
    min: 1,
    max: 32,
    readers: STACK,
    meaning: 'API instances',
  }),
  nginx: choice({
    env: 'CREBITO_NGINX',
    default: 'auto',
    choices: ['auto', 'off'],
    readers: STACK,
    meaning: '`off` to serve without nginx even when it is installed',
  }),
  nginxWorkers: integer({
    env: 'CREBITO_NGINX_WORKERS',
    default: 1,
    min: 1,
    max: 64,
    readers: STACK,
    meaning: 'nginx worker processes',
  }),
  nginxBinary: text({
    env: 'NGINX_BINARY',
    default: undefined,
    defaultShown: 'unset: found',
    readers: STACK,
    meaning:
      'the nginx program to run, instead of the one found on `PATH` or in the usual install places (`/usr/sbin`, …)',
  }),
  rateLimitPerS: integer({
    env: 'CREBITO_RATE_LIMIT_PER_S',
    default: 0,
    min: 0,
    max: 1_000_000,
    readers: BOTH,
    meaning:
      'requests per second one client may make, by API key with CREBITO_AUTH=keys (a request without a valid key ' +
      "counts against its address) and by address otherwise (a burst of one second's worth passes), then 429 with " +
      'Retry-After; `0`: no limit',
  }),
  instanceNodeArguments: text({
    env: 'CREBITO_INSTANCE_NODE_ARGS',
    default: '',
    defaultShown: 'empty',
    readers: STACK,
    meaning: 'extra `node` options for each instance, e.g. `--cpu-prof`',
  }),
  instanceName: text({
    env: 'CREBITO_INSTANCE_NAME',
    default: 'api',
    defaultShown: '`api`',
    readers: INSTANCE,
    meaning: "an instance's name in the `x-crebito-instance` header and its logs (the launcher names them `api-N`)",
  }),
  listen: text({
    env: 'CREBITO_LISTEN',
    default: '9999',
    defaultShown: '`9999`',
    readers: INSTANCE,
    meaning: 'where an instance listens: `port`, `host:port` or `unix:/path` (the launcher sets it)',
  }),
  adminListen: text({
    env: 'CREBITO_ADMIN_LISTEN',
    default: '',
    defaultShown: 'empty: none',
    readers: INSTANCE,
    meaning:
      'where an instance serves `/metrics`, `/health` and `/ready` to operators (`host:port`; the launcher sets it)',
  }),
  livenessTimeoutMs: integer({
    env: 'CREBITO_LIVENESS_TIMEOUT_MS',
    default: 5000,
    min: 500,
    max: 600_000,
    readers: STACK,
    meaning:
      'an instance whose admin address has not answered `/health` for this long (frozen, stuck) is killed and restarted by the launcher',
  }),
  adminBasePort: integer({
    env: 'CREBITO_ADMIN_BASE_PORT',
    default: 9201,
    min: 0,
    max: 65535,
    readers: STACK,
    meaning:
      "instance N's admin listener (`/metrics`) is 127.0.0.1 on this port + N - 1; `0`: any free port (state.json and the log say which)",
  }),
  prometheus: choice({
    env: 'CREBITO_PROMETHEUS',
    default: 'off',
    choices: ['off', 'on'],
    readers: STACK,
    meaning:
      '`on` also starts Prometheus (Debian: `apt-get install prometheus`), scraping every instance; its data in `<data>/prometheus`',
  }),
  prometheusPort: integer({
    env: 'CREBITO_PROMETHEUS_PORT',
    default: 9090,
    min: 1,
    max: 65535,
    readers: STACK,
    meaning: 'where that Prometheus serves its UI and API, on 127.0.0.1',
  }),
  events: choice({
    env: 'CREBITO_EVENTS',
    default: 'off',
    choices: ['off', 'on'],
    readers: STACK,
    meaning:
      '`on`: every committed transaction published to RabbitMQ by a publisher process, and a local ' +
      'RabbitMQ unless `CREBITO_EVENTS_URL` names one (docs/events.md)',
  }),
  eventsUrl: text({
    env: 'CREBITO_EVENTS_URL',
    default: undefined,
    defaultShown: "unset: the launcher's own RabbitMQ",
    readers: STACK,
    meaning: 'an existing broker for the change stream, `amqp://user:password@host:port/vhost`',
  }),
  eventsBrokerPort: integer({
    env: 'CREBITO_EVENTS_BROKER_PORT',
    default: 5682,
    min: 1024,
    max: 30_000,
    readers: STACK,
    meaning:
      "the local RabbitMQ's AMQP port on 127.0.0.1; its Erlang ports are the next two (below 30000: RabbitMQ 3.10 failed to start its distribution on 36189)",
  }),
  eventsAdminPort: integer({
    env: 'CREBITO_EVENTS_ADMIN_PORT',
    default: 9199,
    min: 0,
    max: 65535,
    readers: STACK,
    meaning:
      "where the change stream's publisher serves `/health` and `/metrics` on 127.0.0.1; `0`: any free port (state.json says which)",
  }),
  eventsAdminListen: text({
    env: 'CREBITO_EVENTS_ADMIN_LISTEN',
    default: undefined,
    defaultShown: 'unset: 127.0.0.1 on `CREBITO_EVENTS_ADMIN_PORT`',
    readers: STACK,
    meaning:
      "the publisher's `/health` and `/metrics` as `host:port` (the launcher sets it; docker compose's events profile too)",
  }),
  eventsWalKeepMb: integer({
    env: 'CREBITO_EVENTS_WAL_KEEP_MB',
    default: 4096,
    min: 64,
    max: 1_048_576,
    readers: STACK,
    meaning:
      "the embedded PostgreSQL's `max_slot_wal_keep_size` with the stream on: the WAL a stalled stream may hold back before its slot is lost (docs/events.md)",
  }),
  eventsCpu: choice({
    env: 'CREBITO_EVENTS_CPU',
    default: 'low',
    choices: ['idle', 'low', 'normal'],
    readers: STACK,
    meaning:
      "how the stream's processes (the local RabbitMQ, the publisher, its WAL sender) share the CPU with the ledger: " +
      '`low`: a cgroup with `cpu.shares` 64, a sixteenth of any other process (else nice 10); `idle`: only what ' +
      'nothing else wants (`cpu.idle`, else nice 19); `normal`: as any process (docs/events.md, "Cost")',
  }),
  eventsCpuCap: integer({
    env: 'CREBITO_EVENTS_CPU_CAP',
    default: 20,
    min: 0,
    max: 400,
    readers: STACK,
    meaning:
      "with `CREBITO_EVENTS_CPU` `low` or `idle` on cgroups: the most of one core, in percent, the stream's processes " +
      'may take together while its slot is less than 32 MB of WAL behind (`cpu.cfs_quota_us`; lifted beyond); ' +
      '`0`: no cap (docs/events.md, "Cost")',
  }),
  eventsDatabaseUrl: text({
    env: 'CREBITO_EVENTS_DATABASE_URL',
    default: undefined,
    defaultShown: "unset: the superuser's",
    readers: STACK,
    meaning:
      "the database as the change stream reads it, a role with REPLICATION (needed with `DATABASE_URL`'s server)",
  }),
  prometheusScrapeIntervalMs: integer({
    env: 'CREBITO_PROMETHEUS_SCRAPE_INTERVAL_MS',
    default: 5000,
    min: 100,
    max: 600_000,
    readers: STACK,
    meaning: 'how often that Prometheus scrapes each instance',
  }),
  prometheusBinary: text({
    env: 'PROMETHEUS_BINARY',
    default: undefined,
    defaultShown: 'unset: found',
    readers: STACK,
    meaning:
      'the Prometheus program `CREBITO_PROMETHEUS=on` runs, instead of the one found on `PATH` or in `/usr/bin`, `/usr/local/bin`',
  }),
  metrics: choice({
    env: 'CREBITO_METRICS',
    default: 'on',
    choices: ['on', 'off'],
    readers: BOTH,
    meaning: '`off` records no metrics (`/metrics` is then empty): for measuring what they cost',
  }),
  logLevel: choice({
    env: 'CREBITO_LOG_LEVEL',
    default: 'info',
    choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    readers: BOTH,
    meaning: 'JSON log lines at this level and above (no line per request at `info`)',
  }),
  slowRequestMs: integer({
    env: 'CREBITO_SLOW_REQUEST_MS',
    default: 250,
    min: 1,
    max: 600_000,
    readers: BOTH,
    meaning: 'a request answered slower than this is logged (warn) with its route, status and duration',
  }),
  warmUpRequests: integer({
    env: 'CREBITO_WARM_UP_REQUESTS',
    default: 3000,
    min: 0,
    max: 100_000,
    readers: INSTANCE,
    meaning:
      'requests an instance sends itself before it listens (statements, and writes for a client that does not ' +
      'exist: nothing moves), at most 5 s, so that V8 has compiled its hot path before the first client serves ' +
      '(docs/latency.md); `0`: none',
  }),
  poolClientsMax: integer({
    env: 'CREBITO_POOL_CLIENTS_MAX',
    default: 4,
    min: 1,
    max: 200,
    readers: BOTH,
    meaning:
      "database connections in each instance's pool (beside them it opens one for the breaker's probe, and one for the API keys' poll with CREBITO_AUTH=keys)",
  }),
  queueLengthMax: integer({
    env: 'CREBITO_QUEUE_LENGTH_MAX',
    default: 2048,
    min: 1,
    max: 1_000_000,
    readers: BOTH,
    meaning:
      'requests of one operation waiting to join a database call before answering 503: transactions, statements and history pages each have a queue this long',
  }),
  queueWaitMsMax: integer({
    env: 'CREBITO_QUEUE_WAIT_MS_MAX',
    default: 500,
    min: 1,
    max: 600_000,
    readers: BOTH,
    meaning:
      'longest a request waits to join a database call before a 503 `sobrecarregado` (never sent: nothing was applied)',
  }),
  requestTimeoutMs: integer({
    env: 'CREBITO_REQUEST_TIMEOUT_MS',
    default: 1000,
    min: 1,
    max: 600_000,
    readers: BOTH,
    meaning:
      'longest a request waits for the database in all; then a 503 `banco_sem_resposta` (sent: it may have been applied)',
  }),
  breakerFailuresMax: integer({
    env: 'CREBITO_BREAKER_FAILURES_MAX',
    default: 3,
    min: 1,
    max: 1000,
    readers: BOTH,
    meaning:
      'consecutive failed or late database calls that open the circuit breaker (then 503 `banco_indisponivel` at once until a probe succeeds)',
  }),
  connectTimeoutMs: integer({
    env: 'CREBITO_CONNECT_TIMEOUT_MS',
    default: 2000,
    min: 1,
    max: 600_000,
    readers: BOTH,
    meaning: 'longest wait to open a database connection',
  }),
  queryTimeoutMs: integer({
    env: 'CREBITO_QUERY_TIMEOUT_MS',
    default: 5000,
    min: 1,
    max: 600_000,
    readers: BOTH,
    meaning:
      '`statement_timeout`: the server rolls back a query that runs longer, and the client gives up 1 s later (a 503 whose outcome is unknown)',
  }),
  shutdownTimeoutMs: integer({
    env: 'CREBITO_SHUTDOWN_TIMEOUT_MS',
    default: 10_000,
    min: 0,
    max: 600_000,
    readers: BOTH,
    meaning: 'how long a stopping instance waits for in-flight requests',
  }),
  batchSizeMax: integer({
    env: 'CREBITO_BATCH_SIZE_MAX',
    default: 64,
    min: 1,
    max: 1000,
    readers: BOTH,
    meaning: 'most requests sharing one database call, transactions and statements alike (`1` turns sharing off)',
  }),
  writesInFlightMax: integer({
    env: 'CREBITO_WRITES_IN_FLIGHT_MAX',
    formerEnv: 'CREBITO_BATCHES_IN_FLIGHT_MAX',
    default: 1,
    min: 1,
    max: 200,
    readers: BOTH,
    meaning:
      'transaction calls in flight per instance, each holding a pooled connection; past the first, only while ' +
      'the call in flight carries at most two requests (a light load), and never with a client it holds',
  }),
  readsInFlightMax: integer({
    env: 'CREBITO_READS_IN_FLIGHT_MAX',
    default: 2,
    min: 1,
    max: 200,
    readers: BOTH,
    meaning:
      'read calls in flight per instance, every read operation together (statements take all but one, ' +
      "history pages one); with the transaction calls and the key expiry's connection they must fit the pool",
  }),
  historyDbMsPerSecond: integer({
    env: 'CREBITO_HISTORY_DB_MS_PER_SECOND',
    default: 100,
    min: 1,
    max: 1000,
    readers: BOTH,
    meaning:
      "database time history pages may take per instance, in ms per second (each page charged its call's " +
      'time as the instance measures it); pages past it wait in the queue, then 503 `sobrecarregado`; with ' +
      'N instances history takes at most about N × this / 1000 of one core (`1000`: only the one read in ' +
      'flight bounds it)',
  }),
  idempotencyRetentionS: integer({
    env: 'CREBITO_IDEMPOTENCY_RETENTION_S',
    default: 86_400,
    min: 1,
    max: 2_592_000,
    readers: BOTH,
    meaning:
      'how long an `Idempotency-Key` is kept, at least, for retries to be replayed; older keys are removed in the background',
  }),
  idempotencyWaitMsMax: integer({
    env: 'CREBITO_IDEMPOTENCY_WAIT_MS_MAX',
    default: 250,
    min: 1,
    max: 600_000,
    readers: BOTH,
    meaning:
      'longest a retry waits for a request with the same `Idempotency-Key` that is still running before ' +
      'answering 409 (nothing applied); with the queue wait, below the request deadline',
  }),
  tls: choice({
    env: 'CREBITO_TLS',
    default: 'off',
    choices: ['off', 'self-signed'],
    readers: STACK,
    meaning:
      '`self-signed`: without `CREBITO_TLS_CERT`, generate a certificate for localhost under `<data>/tls` (local use; clients must trust it by hand)',
  }),
  tlsCertificate: text({
    env: 'CREBITO_TLS_CERT',
    default: undefined,
    defaultShown: 'unset: no TLS',
    readers: STACK,
    meaning:
      'PEM certificate (chain) for HTTPS at nginx; with `CREBITO_TLS_KEY`, nginx serves TLS 1.2+ and HTTP/2 on `CREBITO_TLS_PORT`',
  }),
  tlsKey: text({
    env: 'CREBITO_TLS_KEY',
    default: undefined,
    defaultShown: 'unset: no TLS',
    readers: STACK,
    meaning: 'PEM private key of `CREBITO_TLS_CERT`',
  }),
  tlsPort: integer({
    env: 'CREBITO_TLS_PORT',
    default: 9443,
    min: 1,
    max: 65535,
    readers: STACK,
    meaning: 'where nginx serves HTTPS, when TLS is on',
  }),
  apiKeysStaleMs: integer({
    env: 'CREBITO_API_KEYS_STALE_MS',
    default: 1000,
    min: 500,
    max: 600_000,
    readers: BOTH,
    meaning:
      'with `CREBITO_AUTH=keys`, an instance whose keys were last confirmed longer ago than this (the database ' +
      'not answering their poll, every 250 ms) answers 503 `banco_indisponivel` rather than trust a key ' +
      'revoked meanwhile',
  }),
  apiPassword: text({
    env: 'CREBITO_API_PASSWORD',
    default: undefined,
    defaultShown: 'unset: no password',
    readers: COMPOSE,
    meaning:
      "`crebito_api`'s password, set by the database container of docker compose at its first start " +
      '(the compose files give it; the launcher makes its own roles)',
  }),
  benchCgroups: text({
    env: 'CREBITO_BENCH_CGROUPS',
    default: undefined,
    defaultShown: 'unset',
    readers: BENCH,
    meaning:
      "set by `npm run bench` for each instance it runs under the public test's limits: " +
      'which cgroups it joins (JSON)',
  }),
  fuzzSeed: integer({
    env: 'CREBITO_FUZZ_SEED',
    default: 0,
    min: 0,
    max: 2 ** 31 - 1,
    readers: TESTS,
    meaning: 'replays the run of `test/stack/fuzz-public-surface.test.ts` that printed this seed; `0`: a new seed',
  }),
  plainHttp: choice({
    env: 'CREBITO_PLAIN_HTTP',
    default: 'keep',
    choices: ['keep', 'redirect', 'refuse'],
    readers: STACK,
    meaning:
      'with TLS on, what `PORT` does: `keep` serves plain HTTP as before, `redirect` answers 308 to HTTPS, `refuse` answers 403 `https_obrigatorio`',
  }),
} as const;

export type SettingName = keyof typeof SETTINGS;

type ValueOf<S> = S extends IntegerSetting
  ? number
  : S extends ChoiceSetting<infer Choice>
    ? Choice
    : S extends { default: string }
      ? string
      : string | undefined;

export type Settings<Name extends SettingName> = { [K in Name]: ValueOf<(typeof SETTINGS)[K]> };

/** The names of the settings one program reads. */
export type ReadBy<R extends Reader> = {
  [K in SettingName]: R extends (typeof SETTINGS)[K]['readers'][number] ? K : never;
}[SettingName];

export function settingsReadBy<R extends Reader>(reader: R): ReadBy<R>[] {
  return (Object.keys(SETTINGS) as SettingName[]).filter((name) =>
    (SETTINGS[name].readers as readonly Reader[]).includes(reader),
  ) as ReadBy<R>[];
}

/** Settings the launcher reads, checks and passes on to each instance it starts. */
export type PassedToInstances = ReadBy<'instance'> & ReadBy<'stack'>;
export const PASSED_TO_INSTANCES = settingsReadBy('stack').filter((name): name is PassedToInstances =>
  (SETTINGS[name].readers as readonly Reader[]).includes('instance'),
);

export function readSetting(setting: Setting, environment: Environment): number | string | undefined {
  const former = setting.formerEnv === undefined ? undefined : environment[setting.formerEnv];
  const raw = environment[setting.env] ?? former;
  if (raw === undefined || raw === '') return setting.default;
  switch (setting.kind) {
    case 'integer': {
      if (!/^[0-9]+$/.test(raw)) throw new Error(`${setting.env} must be a whole number, got ${JSON.stringify(raw)}`);
      const value = Number(raw);
      if (value < setting.min || value > setting.max) {
        throw new Error(`${setting.env} must be between ${setting.min} and ${setting.max}, got ${value}`);
      }
      return value;
    }
    case 'choice':
      if (!setting.choices.includes(raw))
        throw new Error(`${setting.env} must be one of ${setting.choices.join(', ')}, got ${JSON.stringify(raw)}`);
      return raw;
    case 'text':
      return raw;
  }
}

/** Variables no longer read, each with why: set, they are warned about for one release. */
export const DROPPED_SETTINGS: Readonly<Record<string, string>> = {
  CREBITO_UPSTREAM: 'nginx reaches the instances over unix sockets only (TCP was never used nor tested)',
  CREBITO_INSTANCE_BASE_PORT: 'nginx reaches the instances over unix sockets only (TCP was never used nor tested)',
};

/** A warning for each renamed variable set under its former name, and each dropped one set: logged at start. */
export function formerNamesSet(environment: Environment): string[] {
  const renamed = Object.values(SETTINGS as Record<string, Setting>)
    .filter((setting) => setting.formerEnv !== undefined && (environment[setting.formerEnv] ?? '') !== '')
    .map(
      (setting) =>
        `${setting.formerEnv} is now ${setting.env}: the former name is read for one more release` +
        (environment[setting.env] === undefined ? '' : `, and ignored while ${setting.env} is set`),
    );
  const dropped = Object.entries(DROPPED_SETTINGS)
    .filter(([env]) => (environment[env] ?? '') !== '')
    .map(([env, why]) => `${env} is no longer read and has no effect: ${why}`);
  return [...renamed, ...dropped];
}

/** Reads the named settings from an environment, each by its declaration. */
export function readSettings<Name extends SettingName>(
  environment: Environment,
  names: readonly Name[],
): Settings<Name> {
  const values: Record<string, unknown> = {};
  for (const name of names) values[name] = readSetting(SETTINGS[name], environment);
  return values as Settings<Name>;
}

/** The environment variables that give an instance these values. */
export function environmentFor(
  values: Partial<Record<SettingName, number | string | undefined>>,
): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    if (value !== undefined) environment[SETTINGS[name as SettingName].env] = String(value);
  }
  return environment;
}

/** How a setting's default reads in the settings table. */
export function shownDefault(setting: Setting): string {
  return setting.kind === 'text' ? setting.defaultShown : `\`${setting.default}\``;
}

// Cross-checks between settings, run by whichever program reads them.

type InstanceLimits = Settings<
  | 'poolClientsMax'
  | 'writesInFlightMax'
  | 'readsInFlightMax'
  | 'queueWaitMsMax'
  | 'requestTimeoutMs'
  | 'idempotencyWaitMsMax'
>;

/** Throws when the instance limits contradict each other. */
export function checkInstanceLimits(limits: InstanceLimits): void {
  // Every call in flight holds a pooled connection; more calls than
  // connections would only queue inside the pool, unbounded by our limits.
  const reserved = Object.values(RESERVED_CONNECTIONS).reduce((sum: number, connections) => sum + connections, 0);
  if (limits.writesInFlightMax + limits.readsInFlightMax + reserved > limits.poolClientsMax) {
    throw new Error(
      `${SETTINGS.writesInFlightMax.env} (${limits.writesInFlightMax}) + ${SETTINGS.readsInFlightMax.env} ` +
        `(${limits.readsInFlightMax}) + ${reserved} (${Object.keys(RESERVED_CONNECTIONS).join(', ')}) must ` +
        `not exceed ${SETTINGS.poolClientsMax.env} (${limits.poolClientsMax})`,
    );
  }
  // A retry that waits for its key after the longest queue wait must still
  // be answered before its deadline: a 409 (nothing applied), not a 503
  // banco_sem_resposta (outcome unknown). This also keeps a request from
  // waiting its whole deadline in the queue, where it could never be sent.
  if (limits.queueWaitMsMax + limits.idempotencyWaitMsMax >= limits.requestTimeoutMs) {
    throw new Error(
      `${SETTINGS.queueWaitMsMax.env} (${limits.queueWaitMsMax}) + ${SETTINGS.idempotencyWaitMsMax.env} ` +
        `(${limits.idempotencyWaitMsMax}) must be less than ${SETTINGS.requestTimeoutMs.env} ` +
        `(${limits.requestTimeoutMs})`,
    );
  }
}
