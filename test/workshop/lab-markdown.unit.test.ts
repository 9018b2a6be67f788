// The reading of a lab's Markdown into steps: what the workshop harness will run, and the mistakes in a
// lab's markup it refuses (with the file and line), so that a lab cannot silently skip a command.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LabSyntaxError, parseLab } from './lab-markdown.ts';
import { fleetkitCallProblems, fleetkitCalls } from './teacher-commands.ts';

const lab = (body: string) => parseLab(`# Lab 9: a test\n\n${body}`, 'lab.md');
const refused = (body: string, problem: RegExp) =>
  assert.throws(
    () => lab(body),
    (error: unknown) => error instanceof LabSyntaxError && problem.test(error.message),
  );

test('commands, background steps, files, input, keys, page checks and teacher actions, in order', () => {
  const parsed = lab(
    [
      'Join the class:',
      '',
      '```sh lab bg=join timeout=90',
      'node fleetkit.mjs join INSTRUCTOR --name alice',
      '```',
      '<!-- lab: expect ready -->',
      '',
      '```js lab file=watch.mjs',
      "import { createRegistry } from './fleetkit.mjs';",
      '```',
      '',
      '```sh lab tools exit=1',
      'etcdctl get /x',
      '```',
      '<!-- lab: expect /lease ([0-9a-f]+)/i -->',
      '<!-- lab: capture LEASE /Lease" : (\\d+)/ -->',
      '<!-- lab: expect-not error -->',
      '',
      '```text lab input=join',
      'stress alice-2 80',
      '```',
      '<!-- lab: expect stressing -->',
      '<!-- lab: expect@join alice-2 -->',
      '<!-- lab: page devices alice 3 -->',
      '<!-- lab: teacher kill-leader etcd -->',
      '<!-- lab: ctrl-c join -->',
      '<!-- lab: expect@join deregistered -->',
      '',
      '```text',
      'output shown to the reader, not run',
      '```',
    ].join('\n'),
  );
  assert.equal(parsed.title, 'Lab 9: a test');
  assert.deepEqual(
    parsed.steps.map((s) => s.kind),
    ['run', 'file', 'run', 'capture', 'input', 'expect', 'page', 'teacher', 'key', 'expect'],
  );
  const [join, file, tools, capture, input] = parsed.steps;
  assert.deepEqual(join, {
    kind: 'run',
    line: 5,
    script: 'node fleetkit.mjs join INSTRUCTOR --name alice\n',
    tools: false,
    name: 'join',
    exitCode: 0,
    timeoutMs: 90_000,
    expects: [{ text: 'ready' }],
  });
  assert.deepEqual(file, {
    kind: 'file',
    line: 10,
    file: 'watch.mjs',
    content: "import { createRegistry } from './fleetkit.mjs';\n",
  });
  assert.ok(tools?.kind === 'run' && tools.tools && tools.exitCode === 1 && tools.timeoutMs === 60_000);
  assert.ok(tools.expects[0] && 'pattern' in tools.expects[0] && tools.expects[0].pattern.flags === 'i');
  assert.deepEqual(tools.expects[1], { text: 'error', absent: true });
  assert.ok(capture?.kind === 'capture' && capture.placeholder === 'LEASE' && capture.from === undefined);
  assert.deepEqual(input, {
    kind: 'input',
    line: 21,
    to: 'join',
    text: 'stress alice-2 80\n',
    expects: [{ text: 'stressing' }],
  });
  assert.deepEqual(
    parsed.steps.slice(5).map((s) => ({ ...s, line: 0 })),
    [
      { kind: 'expect', line: 0, from: 'join', expectation: { text: 'alice-2' } },
      { kind: 'page', line: 0, check: 'devices', args: ['alice', '3'] },
      { kind: 'teacher', line: 0, action: 'kill-leader', args: ['etcd'] },
      { kind: 'key', line: 0, to: 'join', key: 'ctrl-c' },
      { kind: 'expect', line: 0, from: 'join', expectation: { text: 'deregistered' } },
    ],
  );
});

test('a block inside a list keeps its text without the list indent', () => {
  const parsed = lab('1. Run:\n\n   ```sh lab\n   node fleetkit.mjs pick\n   ```\n');
  assert.equal(parsed.steps[0]?.kind === 'run' && parsed.steps[0].script, 'node fleetkit.mjs pick\n');
});

test('refused, with the line: an unmarked command, unknown markup, names that are not running', () => {
  refused('```sh\nnode fleetkit.mjs pick\n```\n', /lab\.md:3: a sh block not marked for the test/);
  refused('```js\nconsole.log(1)\n```\n', /lab\.md:3: a js block not marked/);
  refused('```sh lab\nnode x\n', /never closed/);
  refused('```sh lab\n\n```\n', /an empty command block/);
  refused('```sh lab bg=Join\nx\n```\n', /bg=Join/);
  refused('```sh lab wait=3\nx\n```\n', /"wait" is not for a sh block/);
  refused('```sh lab timeout=0\nx\n```\n', /timeout=SECONDS/);
  refused('```text lab input=join\nquit\n```\n', /no running step named join/);
  refused('```js lab\nx\n```\n', /file=NAME/);
  refused('```python lab\nx\n```\n', /sh, js or text, not python/);
  refused('<!-- lab: expect x -->\n', /"expect" follows a command/);
  refused('<!-- lab: expect@join x -->\n', /no step named join was started/);
  refused('<!-- lab: ctrl-c join -->\n', /no running step named join/);
  refused(
    '```sh lab bg=a\nx\n```\n<!-- lab: ctrl-c a -->\n<!-- lab: ctrl-z a -->\n',
    /no running step named a/,
  );
  refused('```sh lab\nx\n```\n<!-- lab: capture lease /(\\d+)/ -->\n', /placeholder in capitals/);
  refused('```sh lab\nx\n```\n<!-- lab: capture LEASE text -->\n', /needs a \/regex\//);
  refused('```sh lab\nx\n```\n<!-- lab: expect /(/ -->\n', /not a regular expression/);
  refused('<!-- lab: look at it -->\n', /unknown lab comment "look"/);
  refused('```sh lab bg=a\nx\n```\n<!-- lab: expect-not y -->\n', /runs to its end/);
  refused('<!-- lab: page -->\n', /which check/);
  refused('<!-- lab: expect\n  two lines -->\n', /one line/);
  assert.throws(() => parseLab('no heading\n', 'x.md'), /x\.md:1: a lab starts with a # heading/);
});

test('the teacher commands: each fleetkit call with its flags, checked against its --help', async () => {
  const script = [
    'npm run demo -- --classroom',
    'npx fleetkit stores --members 3   # a comment --not-a-flag',
    'npx fleetkit server --classroom \\',
    '  --etcd=http://127.0.0.1:2379',
    'etcdctl del --prefix /fleet/config/',
  ].join('\n');
  assert.deepEqual(fleetkitCalls(script), [
    { line: 'npm run demo -- --classroom', command: 'demo', flags: ['--classroom'] },
    { line: 'npx fleetkit stores --members 3', command: 'stores', flags: ['--members'] },
    {
      line: 'npx fleetkit server --classroom    --etcd=http://127.0.0.1:2379',
      command: 'server',
      flags: ['--classroom', '--etcd'],
    },
  ]);
  const helps: Record<string, string> = {
    demo: '  --classroom   on the LAN',
    stores: '  --members N',
    server: '  --etcd  --classroom-x',
  };
  assert.deepEqual(await fleetkitCallProblems(script, async (c) => helps[c]), [
    '"npx fleetkit server --classroom    --etcd=http://127.0.0.1:2379": fleetkit server --help lists no --classroom',
  ]);
  assert.deepEqual(await fleetkitCallProblems('fleetkit nosuch --x', async (c) => helps[c]), [
    '"fleetkit nosuch --x": fleetkit has no command "nosuch"',
  ]);
  const parsed = lab(
    '```sh teacher run\netcdctl del --prefix /fleet/config/\n```\n<!-- lab: expect deleted -->\n',
  );
  assert.deepEqual(parsed.steps, [
    {
      kind: 'teacher-command',
      line: 3,
      script: 'etcdctl del --prefix /fleet/config/\n',
      run: true,
      expects: [{ text: 'deleted' }],
    },
  ]);
  refused('```sh teacher now\nx\n```\n', /"now" is not for a teacher block/);
});
