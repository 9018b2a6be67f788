// The teacher's commands in the workshop guide are not run by the test (they start the stores on their
// usual ports, or stop them), but they must not drift either: every `fleetkit` command they name must
// exist and every flag they give it must be one its --help lists.

/** One `fleetkit` invocation found in a shell text: the command and the flags given to it. */
export interface FleetkitCall {
  line: string;
  command: string;
  flags: string[];
}

/** `npm run demo -- --x`, `npx fleetkit stores --y`, `fleetkit server --z`, `node provision/fleetkit.mjs ...`. */
export function fleetkitCalls(script: string): FleetkitCall[] {
  const calls: FleetkitCall[] = [];
  // Backslash-continued lines are one command.
  for (const line of script.replace(/\\\n/g, ' ').split('\n')) {
    const text = line.replace(/\s#.*$/, '').trim();
    const words = text.split(/\s+/).filter(Boolean);
    let rest: string[] | undefined;
    let command: string | undefined;
    const npm = words.indexOf('npm');
    if (npm >= 0 && words[npm + 1] === 'run' && words[npm + 2] === 'demo') {
      command = 'demo';
      rest = words.slice(npm + 3);
    }
    const at = words.findIndex((w) => w === 'fleetkit' || /(^|\/)fleetkit\.mjs$/.test(w));
    if (command === undefined && at >= 0) {
      command = words[at + 1];
      rest = words.slice(at + 2);
    }
    if (command === undefined || rest === undefined) continue;
    const flags = rest.filter((w) => /^--[a-z]/.test(w)).map((w) => w.replace(/=.*$/, ''));
    calls.push({ line: text, command, flags });
  }
  return calls;
}

/** What is wrong with the fleetkit calls of a teacher block, in sentences; [] when all is well. */
export async function fleetkitCallProblems(
  script: string,
  help: (command: string) => Promise<string | undefined>,
): Promise<string[]> {
  const problems: string[] = [];
  for (const call of fleetkitCalls(script)) {
    const text = await help(call.command);
    if (text === undefined) {
      problems.push(`"${call.line}": fleetkit has no command "${call.command}"`);
      continue;
    }
    for (const flag of call.flags) {
      if (!new RegExp(`${flag}(?![a-z-])`).test(text))
        problems.push(`"${call.line}": fleetkit ${call.command} --help lists no ${flag}`);
    }
  }
  return problems;
}
