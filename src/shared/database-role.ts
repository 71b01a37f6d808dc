// Owns which database role an instance agrees to work as. An instance should
// log in as a role that can only call the ledger's functions
// (sql/07-privileges.sql); logged in as a superuser, or as the schema's
// owner, one bug or one injected statement could rewrite any balance or
// remove any transaction. So it refuses, unless CREBITO_ALLOW_SUPERUSER=on
// says the operator means it. Both programs ask: the launcher before it
// starts any instance, each instance on every new connection.

import type { Settings } from './settings.js';

/** Who the session is, and whether that is a superuser or (a member of) the owner of the schema. */
export interface RoleFacts {
  role: string;
  superuser: boolean;
  owner: boolean;
}

const ROLE_QUERY = `
  SELECT current_user AS role, r.rolsuper AS superuser,
         coalesce(pg_has_role(current_user, c.relowner, 'USAGE'), false) AS owner
    FROM pg_roles r
    LEFT JOIN pg_class c ON c.oid = to_regclass('public.transacoes')
   WHERE r.rolname = current_user`;

export interface Queryable {
  query(text: string): Promise<{ rows: unknown[] }>;
}

export async function readRoleFacts(client: Queryable): Promise<RoleFacts> {
  const { rows } = await client.query(ROLE_QUERY);
  return rows[0] as RoleFacts;
}

/** Why an instance must not work as this role, in one line; undefined when it may. */
export function roleRefusal(
  facts: RoleFacts,
  allowSuperuser: Settings<'allowSuperuser'>['allowSuperuser'],
): string | undefined {
  if (allowSuperuser === 'on' || (!facts.superuser && !facts.owner)) return undefined;
  const what = facts.superuser ? 'a superuser' : "the schema's owner";
  return (
    `DATABASE_URL logs in as ${facts.role}, ${what}: instances must log in as a role that can only call the ledger's functions ` +
    '(docs/security.md: Database roles), or set CREBITO_ALLOW_SUPERUSER=on to allow it'
  );
}
