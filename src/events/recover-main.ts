// `npm run events -- recover` where only the publisher's image is (docker
// compose's events profile, docs/events.md): `docker compose --profile events
// run --rm events node dist/src/events/recover-main.js [--since ...]`, with
// the service's CREBITO_EVENTS_DATABASE_URL (the superuser) and
// CREBITO_EVENTS_URL. Everything it does is recover.ts's.

import { runRecoverCommand } from './recover.js';

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is required`);
  return value;
}

void runRecoverCommand(process.argv.slice(2), {
  databaseUrl: () => required('CREBITO_EVENTS_DATABASE_URL'),
  brokerUrl: () => required('CREBITO_EVENTS_URL'),
}).then((code) => process.exit(code));
