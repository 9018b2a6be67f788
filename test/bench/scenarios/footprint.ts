import type { Scenario } from '../support/context.ts';

export const footprintScenario: Scenario = {
  id: 'footprint',
  title: 'footprint (not written yet)',
  async run() {
    throw new Error('not written yet');
  },
};
