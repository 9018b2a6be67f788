// Entry of the single-file agent for the Pis: `node fleetkit-agent.mjs [settings]`.
import { main } from './main.ts';

const code = await main(process.argv.slice(2));
if (code !== undefined) process.exitCode = code;
