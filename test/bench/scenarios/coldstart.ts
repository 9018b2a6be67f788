import type { Scenario } from '../support/context.ts';

export const coldStartScenario: Scenario = {
  id: 'coldstart',
  title: 'coldstart (not written yet)',
  async run() {
    throw new Error('not written yet');
  },
};
