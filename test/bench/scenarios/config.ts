import type { Scenario } from '../support/context.ts';

export const configScenario: Scenario = {
  id: 'config',
  title: 'config (not written yet)',
  async run() {
    throw new Error('not written yet');
  },
};
