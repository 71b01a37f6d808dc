// What prose cites: repository paths (with or without `:line`), compiled
// entry points under `dist/` (each stands for its `.ts`), relative
// Markdown links (with their `#heading`) and `npm run` scripts. Read from
// the whole text of a Markdown file and from the comments of code, where a
// string may hold a path on purpose. test/unit/cited-paths.test.ts holds each
// to the repository.

import fs from 'node:fs';
import path from 'node:path';

/** The folders at the root whose paths prose names in full. */
const ROOTS = ['src', 'sql', 'docs', 'test', 'tools', 'nginx', 'docker', 'load', 'results', 'observability'];
// Not after `](`: a Markdown link is read as a link, relative to its document.
const REPO_PATH = new RegExp(`(?<![\\w./<>-])(?<!\\]\\()((?:${ROOTS.join('|')})/[\\w./-]*\\w)(?::(\\d+))?`, 'g');
/** A path that goes on with one of these is a pattern, not one file: `<placeholder>`, `{a,b}`, an ellipsis, a star. */
const PATTERN_NEXT = /^[\w./-]*[{<…*$]/;
/** `nginx/1.22.1` is a version, not a path. */
const VERSION = /^\w+\/[\d.]+$/;
const DIST_PATH = /(?<![\w./-])dist\/((?:src|tools|test)\/[\w./-]*)\.js\b/g;
const NPM_RUN = /\bnpm run ([\w:-]*\w)/g;
const MARKDOWN_LINK = /\]\(([^)\s]+)\)/g;

export type Citation =
  | { kind: 'path'; path: string; line?: number }
  | { kind: 'script'; name: string }
  | { kind: 'link'; path: string; anchor?: string };

/** The comment text of a code file, by its kind; a Markdown file is all prose. */
export function proseOf(file: string, text: string): string {
  if (file.endsWith('.md')) return text;
  const marker = /\.(sql|lua)$/.test(file)
    ? /(?:^|\s)--(.*)$/
    : /\.(ts|js|cjs|mjs)$/.test(file)
      ? /(?:^\s*(?:\/\/|\/\*+|\*)|\s\/\/)(.*)$/
      : /(?:^|\s)#(.*)$/;
  return text
    .split('\n')
    .map((line) => marker.exec(line)?.[1] ?? '')
    .filter((comment) => comment !== '')
    .join('\n');
}

/** Every citation in a file's prose; links only from Markdown, relative to its folder. */
export function citationsIn(file: string, text: string): Citation[] {
  const prose = proseOf(file, text);
  const found: Citation[] = [];
  for (const match of prose.matchAll(REPO_PATH)) {
    if (PATTERN_NEXT.test(prose.slice(match.index + match[0].length)) || VERSION.test(match[1]!)) continue;
    found.push({ kind: 'path', path: match[1]!, ...(match[2] === undefined ? {} : { line: Number(match[2]) }) });
  }
  for (const match of prose.matchAll(DIST_PATH)) found.push({ kind: 'path', path: `${match[1]!}.ts` });
  for (const match of prose.matchAll(NPM_RUN)) found.push({ kind: 'script', name: match[1]! });
  if (file.endsWith('.md')) {
    for (const [, target] of prose.matchAll(MARKDOWN_LINK)) {
      if (/^[a-z]+:/i.test(target!)) continue;
      const [linked, anchor] = target!.split('#');
      const resolved = linked === '' ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), linked!));
      found.push({ kind: 'link', path: resolved, ...(anchor === undefined ? {} : { anchor }) });
    }
  }
  return found;
}

/** GitHub's anchors for a Markdown file's headings (outside code blocks), duplicates numbered. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*)$/.exec(line);
    if (heading === null) continue;
    const base = heading[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    let anchor = base;
    for (let copy = 1; anchors.has(anchor); copy++) anchor = `${base}-${copy}`;
    anchors.add(anchor);
  }
  return anchors;
}

/** Why a citation leads nowhere in the repository at root, or undefined when it leads somewhere. */
export function brokenReason(root: string, citation: Citation, scripts: Record<string, string>): string | undefined {
  if (citation.kind === 'script') {
    return citation.name in scripts ? undefined : `npm run ${citation.name}: no such script`;
  }
  const full = path.join(root, citation.path);
  if (!fs.existsSync(full)) return `${citation.path}: no such file`;
  if (citation.kind === 'path' && citation.line !== undefined) {
    const lines = fs.readFileSync(full, 'utf8').split('\n').length;
    return citation.line <= lines ? undefined : `${citation.path}:${citation.line}: the file has ${lines} lines`;
  }
  if (citation.kind === 'link' && citation.anchor !== undefined && citation.path.endsWith('.md')) {
    const found = anchorsOf(fs.readFileSync(full, 'utf8')).has(citation.anchor);
    return found ? undefined : `${citation.path}#${citation.anchor}: no such heading`;
  }
  return undefined;
}
