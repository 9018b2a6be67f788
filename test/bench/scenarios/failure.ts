import type { Scenario } from '../support/context.ts';

export const failureScenario: Scenario = {
  id: 'failure',
  title: 'failure (not written yet)',
  async run() {
    throw new Error('not written yet');
  },
};
