import type { Scenario } from '../support/context.ts';

export const scaleScenario: Scenario = {
  id: 'scale',
  title: 'scale (not written yet)',
  async run() {
    throw new Error('not written yet');
  },
};
