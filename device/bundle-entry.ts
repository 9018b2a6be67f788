// Entry of the single-file agent for the Pis: `node fleetkit-agent.mjs [settings]`.
import { main } from './main.ts';
import { nodeTooOld } from './node-check.ts';

const tooOld = nodeTooOld();
if (tooOld) {
  process.stderr.write(`fleetkit agent cannot start: ${tooOld}\n`);
  process.exitCode = 1;
} else {
  const code = await main(process.argv.slice(2));
  if (code !== undefined) process.exitCode = code;
}
