// Owns HTTPS at nginx for `npm start`: which certificate and key nginx is
// given (the operator's, from CREBITO_TLS_CERT and CREBITO_TLS_KEY, or a
// self-signed pair for local use when CREBITO_TLS=self-signed), and what the
// plain port does meanwhile (CREBITO_PLAIN_HTTP). nginx.ts renders the rest.
//
// The self-signed pair is made by the openssl command rather than by an npm
// library: node:crypto makes keys but not X.509 certificates, the openssl
// command is on every machine that has nginx's TLS library packaged beside
// it, and a dependency on the money path's process for a local convenience
// would be a poor trade.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { StackLog } from '../shared/log.js';
import { SETTINGS, type Settings } from '../shared/settings.js';
import { findExecutable } from './executables.js';

/** What nginx needs to serve HTTPS. */
export interface TlsPlan {
  port: number;
  certificatePath: string;
  keyPath: string;
  plainHttp: 'keep' | 'redirect' | 'refuse';
}

type TlsSettings = Settings<'tls' | 'tlsCertificate' | 'tlsKey' | 'tlsPort' | 'plainHttp' | 'port'>;

// A self-signed certificate lasts this long; one that ends within a day is
// made again at start, so a long-lived local stack never serves an expired one.
const SELF_SIGNED_VALIDITY_DAYS = 30;
const SELF_SIGNED_RENEW_BEFORE_S = 86_400;
const OPENSSL_CANDIDATES = ['/usr/bin/openssl', '/usr/local/bin/openssl', '/opt/homebrew/bin/openssl'];

/** Throws when the TLS settings contradict each other (run before anything starts). */
export function checkTlsSettings(settings: TlsSettings): void {
  if ((settings.tlsCertificate === undefined) !== (settings.tlsKey === undefined)) {
    throw new Error(`${SETTINGS.tlsCertificate.env} and ${SETTINGS.tlsKey.env} go together: give both or neither`);
  }
  if (settings.tlsCertificate !== undefined && settings.tls === 'self-signed') {
    throw new Error(
      `${SETTINGS.tls.env}=self-signed makes its own certificate; unset it, or unset ${SETTINGS.tlsCertificate.env} and ${SETTINGS.tlsKey.env}`,
    );
  }
  const on = settings.tlsCertificate !== undefined || settings.tls === 'self-signed';
  if (!on && settings.plainHttp !== 'keep') {
    throw new Error(
      `${SETTINGS.plainHttp.env}=${settings.plainHttp} needs TLS on: ` +
        `set ${SETTINGS.tlsCertificate.env} and ${SETTINGS.tlsKey.env}, or ${SETTINGS.tls.env}=self-signed`,
    );
  }
  if (on && settings.tlsPort === settings.port)
    throw new Error(`${SETTINGS.tlsPort.env} and ${SETTINGS.port.env} must differ (both are ${settings.port})`);
}

/** The certificate and key nginx serves, made first when self-signed; undefined when TLS is off. */
export function prepareTls(settings: TlsSettings, dataDirectory: string, log: StackLog): TlsPlan | undefined {
  const base = { port: settings.tlsPort, plainHttp: settings.plainHttp };
  if (settings.tlsCertificate !== undefined && settings.tlsKey !== undefined) {
    // nginx reads them as it starts (before any worker drops privileges);
    // checked here so a typo is one clear line, not nginx's error at -t.
    for (const file of [settings.tlsCertificate, settings.tlsKey]) fs.accessSync(file, fs.constants.R_OK);
    return { ...base, certificatePath: path.resolve(settings.tlsCertificate), keyPath: path.resolve(settings.tlsKey) };
  }
  if (settings.tls === 'off') return undefined;
  return { ...base, ...ensureSelfSigned(path.join(dataDirectory, 'tls'), log) };
}

/** Where a self-signed pair lives under a directory. */
export function selfSignedPaths(directory: string): { certificatePath: string; keyPath: string } {
  return { certificatePath: path.join(directory, 'cert.pem'), keyPath: path.join(directory, 'key.pem') };
}

function openssl(): string {
  const binary = findExecutable('openssl', OPENSSL_CANDIDATES, process.env);
  if (binary === undefined)
    throw new Error(
      `${SETTINGS.tls.env}=self-signed needs the openssl command (Debian/Ubuntu: apt-get install openssl)`,
    );
  return binary;
}

/**
 * A certificate for localhost, 127.0.0.1 and ::1 with a P-256 key, kept
 * across starts (a client told to trust it keeps trusting it) until it is a
 * day from expiring. The directory is 0700 before the key is written, so the
 * key is never readable by others, not even before its chmod to 0600.
 */
function ensureSelfSigned(directory: string, log: StackLog): { certificatePath: string; keyPath: string } {
  const files = selfSignedPaths(directory);
  const binary = openssl();
  fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
  fs.chmodSync(directory, 0o700);
  const current =
    fs.existsSync(files.keyPath) &&
    fs.existsSync(files.certificatePath) &&
    spawnSync(binary, ['x509', '-checkend', String(SELF_SIGNED_RENEW_BEFORE_S), '-noout', '-in', files.certificatePath])
      .status === 0;
  if (current) return files;
  const made = spawnSync(
    binary,
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      files.keyPath,
      '-out',
      files.certificatePath,
      '-days',
      String(SELF_SIGNED_VALIDITY_DAYS),
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
    ],
    { encoding: 'utf8' },
  );
  if (made.status !== 0) throw new Error(`openssl could not make a self-signed certificate:\n${made.stderr.trim()}`);
  fs.chmodSync(files.keyPath, 0o600);
  log.warn(
    `${SETTINGS.tls.env}=self-signed: made a certificate for localhost, valid ${SELF_SIGNED_VALIDITY_DAYS} days, ` +
      `in ${directory} (clients must be told to trust ${files.certificatePath}; not for production)`,
  );
  return files;
}
