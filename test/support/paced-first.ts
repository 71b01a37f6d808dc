// vitest's file order, with one change: the paced files (a minute of load on a clock, mostly waiting) start first
// in their group, so the short files of that group fill the other worker beside them. vitest's own order puts
// small files last, and a one-minute file started last would run alone.

import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** The project whose files wait on a clock rather than on the CPU (vitest.config.ts). */
export const PACED_PROJECT = 'instance-paced';

export default class PacedFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const paced = (spec: TestSpecification) => spec.project.name === PACED_PROJECT;
    return [...sorted.filter(paced), ...sorted.filter((spec) => !paced(spec))];
  }
}
