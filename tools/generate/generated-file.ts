// Owns what a checked-in generated file is: where it lives, and how its text
// is made from the facts it restates. `npm run generate` writes each one;
// test/unit/generated-files.test.ts fails while any is stale.

export interface GeneratedFile {
  path: string;
  /** What the file is, for the generator's output and the test's names. */
  what: string;
  /** The file's exact text. A file that is only partly generated gets its current text, to keep the rest. */
  render(current: string): string;
}
