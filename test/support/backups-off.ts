// CREBITO_BACKUPS=off, for a stack whose test is about something else. Backups are on by default, and a stack with
// them archives its WAL and takes a first full backup (a fast checkpoint, the whole cluster read, compressed and
// encrypted) while its test runs: about a second more to start and stop, and pgBackRest's CPU and disk beside the
// test on a shared two-core machine. The default stays on where a test meets backups on its way: the backup tests,
// the events test, whole-stack (a stack as `npm start` runs it), launcher-after-sigkill (leftovers of a killed
// launcher), postgres-socket-after-restart (pgBackRest on the fallback socket) and the checker's run with faults
// (archiving through a PostgreSQL crash). docs/development.md#tests says so.

export const BACKUPS_OFF = { CREBITO_BACKUPS: 'off' } as const;
