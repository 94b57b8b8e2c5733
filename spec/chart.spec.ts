/**
 * `chart`: the statechart drawn from the machine definitions. The graph is read from XState's
 * StateNodes, so these tests compare the drawings with the graph (every state, every
 * transition) and with a few lines written out here as the expected reading of machines/*.ts.
 */
import { afterAll, afterEach, describe, expect, test } from 'bun:test';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createMachine } from 'xstate';
import { parseChartArgs, renderChart, runChart } from '../commands/chart';
import { alertMachine } from '../machines/alert';
import { monitorMachine } from '../machines/monitor';
import { graphOf, type StatechartGraph, toDot, toMermaid } from '../lib/statechart-graph';
import { nestedMachine } from './fixtures/chart/nested-machine';

const ROOT = path.resolve(import.meta.dir, '..');
const LOCAL_BUN = path.join(ROOT, 'node_modules/.bin/bun');
const BUN = fs.existsSync(LOCAL_BUN) ? LOCAL_BUN : process.execPath;
// After a usage error: one line within 80 columns (the whole usage is in --help).
const USAGE = 'usage: bun run entry.ts chart [--machine alert|root] … (--help lists all)';

/** DOT node statements (`"id" [...]`), edges excluded. */
const dotNodes = (dot: string) => dot.split('\n').filter((l) => /^\s*"[^"]*"\s*\[/.test(l) && !l.includes('->'));
/** Mermaid state statements: a bare id, or `state ...`. */
const mermaidStates = (mermaid: string) =>
  mermaid.split('\n').filter((l) => /^\s*[A-Za-z_][A-Za-z0-9_]*\s*$/.test(l) || /^\s*state\s/.test(l));
const lines = (text: string) => text.split('\n').map((l) => l.trim());

// ---------------------------------------------------------------------------------------------
// The alert statechart

describe('graphOf(alertMachine)', () => {
  const graph = graphOf(alertMachine);

  test('reads the states and transitions of machines/alert.ts', () => {
    expect(graph.id).toBe('alert');
    expect(graph.states.map(({ id, path, initial, final, parent }) => ({ id, path, initial, final, parent }))).toEqual([
      { id: 'normal', path: ['normal'], initial: true, final: false, parent: undefined },
      { id: 'pending', path: ['pending'], initial: false, final: false, parent: undefined },
      { id: 'alerting', path: ['alerting'], initial: false, final: false, parent: undefined },
    ]);
    expect(graph.transitions.map(({ from, to, kind, label, internal }) => ({ from, to, kind, label, internal }))).toEqual([
      { from: 'alert', to: 'alert', kind: 'event', label: 'sample / takeSample', internal: true },
      { from: 'normal', to: 'normal', kind: 'after', label: 'after evaluateEvery / sampleWindow, reportSample', internal: false },
      { from: 'normal', to: 'pending', kind: 'always', label: 'always [overForAWhile] / markPendingStart', internal: false },
      { from: 'normal', to: 'alerting', kind: 'always', label: 'always [overThreshold] / markAlertStart, announceAlert', internal: false },
      { from: 'pending', to: 'pending', kind: 'after', label: 'after evaluateEvery / sampleWindow, reportSample', internal: false },
      { from: 'pending', to: 'normal', kind: 'always', label: 'always [notOver]', internal: false },
      { from: 'pending', to: 'alerting', kind: 'always', label: 'always [heldLongEnough] / markAlertStart, announceAlert', internal: false },
      { from: 'alerting', to: 'alerting', kind: 'after', label: 'after evaluateEvery / sampleWindow, reportSample', internal: false },
      { from: 'alerting', to: 'normal', kind: 'always', label: 'always [atOrBelowThreshold] / announceRecovery', internal: false },
    ]);
    const overThreshold = graph.transitions.find((t) => t.guard === 'overThreshold')!;
    expect(overThreshold.actions).toEqual(['markAlertStart', 'announceAlert']);
    expect(overThreshold.trigger).toBe('always');
  });

  test('every state and every transition appears in the Mermaid and the DOT', () => {
    const mermaid = toMermaid(graph);
    const dot = toDot(graph);
    for (const state of graph.states) {
      expect(mermaid).toContain(state.id);
      expect(dot).toContain(`"${state.id}" [label="${state.id}"`);
    }
    for (const t of graph.transitions) {
      expect(mermaid).toContain(t.label);
      expect(dot).toContain(t.label);
      if (!t.internal) {
        expect(lines(mermaid)).toContain(`${t.from} --> ${t.to} : ${t.label}`);
        expect(lines(dot)).toContain(`"${t.from}" -> "${t.to}" [label="${t.label}"];`);
      }
    }
    for (const guard of ['overForAWhile', 'overThreshold', 'notOver', 'heldLongEnough', 'atOrBelowThreshold']) {
      expect(mermaid).toContain(`[${guard}]`);
      expect(dot).toContain(`[${guard}]`);
    }
  });

  test('Mermaid: stateDiagram-v2 with the initial state and the edges; one event, a driven instance\'s sample (batches never enter it)', () => {
    const mermaid = lines(toMermaid(graph));
    expect(mermaid[0]).toBe('stateDiagram-v2');
    expect(mermaid).toContain('[*] --> normal');
    expect(mermaid).toContain('normal --> alerting : always [overThreshold] / markAlertStart, announceAlert');
    expect(mermaid).toContain('alerting --> normal : always [atOrBelowThreshold] / announceRecovery');
    expect(mermaid).toContain('normal --> normal : after evaluateEvery / sampleWindow, reportSample');
    expect(mermaid).toContain('alerting --> alerting : after evaluateEvery / sampleWindow, reportSample');
    // The clock drives it, or its parent's samples (a grouped rule's instance): one event, in any state, as a note.
    expect(mermaid.filter((l) => l.startsWith('note'))).toEqual(['note left of normal']);
    expect(mermaid).toContain('sample / takeSample');
    expect(graph.transitions.filter((t) => t.kind === 'event').map((t) => t.label)).toEqual(['sample / takeSample']);
    expect(mermaid.some((l) => l.includes('--> [*]'))).toBe(false); // no final state
  });

  test('DOT: node ids are the state names, an entry arrow from a point', () => {
    const dot = toDot(graph);
    expect(dot.startsWith('digraph "alert" {')).toBe(true);
    expect(dotNodes(dot)).toEqual([
      '    "__start__" [shape=point, width=0.15, label=""];',
      '    "normal" [label="normal"];',
      '    "pending" [label="pending"];',
      '    "alerting" [label="alerting"];',
    ]);
    expect(lines(dot)).toContain('"__start__" -> "normal";');
    expect(dot).toContain('in any state: sample / takeSample');
    expect(dot).not.toContain('doublecircle');
  });

  test('a machine with one more state draws one more node and one more Mermaid state', () => {
    const config = alertMachine.config;
    const bigger = createMachine({ ...config, states: { ...config.states, paused: {} } } as typeof config);
    const before = graphOf(alertMachine);
    const after = graphOf(bigger);
    expect(after.states.length).toBe(before.states.length + 1);
    expect(after.states.at(-1)).toMatchObject({ id: 'paused', initial: false, final: false });
    expect(after.transitions).toEqual(before.transitions);

    const dotBefore = dotNodes(toDot(before));
    const dotAfter = dotNodes(toDot(after));
    expect(dotAfter.length).toBe(dotBefore.length + 1);
    expect(dotAfter.filter((l) => !dotBefore.includes(l))).toEqual(['    "paused" [label="paused"];']);

    const mermaidBefore = mermaidStates(toMermaid(before));
    const mermaidAfter = mermaidStates(toMermaid(after));
    expect(mermaidBefore.map((l) => l.trim())).toEqual(['normal', 'pending', 'alerting']);
    expect(mermaidAfter.length).toBe(mermaidBefore.length + 1);
    expect(mermaidAfter.map((l) => l.trim())).toContain('paused');
  });
});

// ---------------------------------------------------------------------------------------------
// The root machine

describe('graphOf(monitorMachine)', () => {
  const graph = graphOf(monitorMachine);

  test('running and done, with after statsEvery, end and stop', () => {
    expect(graph.id).toBe('monitor');
    expect(graph.states.map((s) => [s.id, s.initial, s.final])).toEqual([
      ['running', true, false],
      ['done', false, true],
    ]);
    expect(graph.transitions.map((t) => `${t.from} -${t.kind}-> ${t.to}: ${t.label}`)).toEqual([
      'running -event-> done: end',
      'running -event-> done: stop',
      'running -after-> running: after statsEvery / flushStats',
    ]);
  });

  test('Mermaid and DOT', () => {
    const mermaid = lines(toMermaid(graph));
    for (const line of [
      '[*] --> running',
      'running --> done : end',
      'running --> done : stop',
      'running --> running : after statsEvery / flushStats',
      'done --> [*]',
    ]) {
      expect(mermaid).toContain(line);
    }
    expect(mermaid.some((l) => l.startsWith('note'))).toBe(false);
    const dot = lines(toDot(graph));
    expect(dot).toContain('"done" [label="done", shape=doublecircle];');
    expect(dot).toContain('"running" [label="running"];');
    expect(dot).toContain('"__start__" -> "running";');
    expect(dot).toContain('"running" -> "done" [label="end"];');
    expect(dot).toContain('"running" -> "done" [label="stop"];');
    expect(dot).toContain('"running" -> "running" [label="after statsEvery / flushStats"];');
  });
});

// ---------------------------------------------------------------------------------------------
// What the flat machines do not exercise

describe('a nested machine (spec/fixtures/chart/nested-machine.ts)', () => {
  const graph = graphOf(nestedMachine);
  const byLabel = (g: StatechartGraph, label: string) => g.transitions.find((t) => t.label === label);

  test('states: repeated keys get their dotted path, parents and types', () => {
    expect(graph.states.map((s) => [s.id, s.parent ?? '-', s.type, s.initial])).toEqual([
      ['stopped', '-', 'atomic', true],
      ['playing', '-', 'parallel', false],
      ['audio', 'playing', 'compound', false],
      ['playing.audio.idle', 'audio', 'atomic', true],
      ['loading', 'audio', 'atomic', false],
      ['video', 'playing', 'compound', false],
      ['playing.video.idle', 'video', 'atomic', true],
      ['buffer-wait', 'video', 'atomic', false],
      ['end', '-', 'final', false],
    ]);
  });

  test('labels: guard combinators, stateIn, numeric delays, built-in and anonymous actions', () => {
    expect(byLabel(graph, 'play [(hasTrack && !locked)]')).toMatchObject({ from: 'stopped', to: 'playing' });
    expect(byLabel(graph, 'always [in(#player.playing.audio.loading)]')).toMatchObject({ kind: 'always', to: 'buffer-wait' });
    expect(byLabel(graph, 'after 500ms / markLoaded')).toMatchObject({ kind: 'after', from: 'loading', to: 'playing.audio.idle' });
    // assign(...) is named by its type; the anonymous arrow function is left out.
    expect(byLabel(graph, 'tick / assign')).toMatchObject({ from: 'playing', to: 'playing', internal: true });
    expect(byLabel(graph, 'poke / logPoke')).toMatchObject({ from: 'stopped', internal: true });
    expect(byLabel(graph, 'reset')).toMatchObject({ from: 'player', to: 'stopped', internal: false });
  });

  test('Mermaid: composite and concurrent states, safe ids, escaped labels, notes', () => {
    const mermaid = lines(toMermaid(graph));
    for (const line of [
      'state playing {',
      '--',
      'state audio {',
      'state "playing.audio.idle" as playing_audio_idle',
      'state "buffer-wait" as buffer_wait',
      '[*] --> playing_audio_idle',
      'loading --> playing_audio_idle : after 500ms / markLoaded',
      'buffer_wait --> playing_video_idle : done#58;buffer',
      'playing_video_idle --> buffer_wait : always [in(#35;player.playing.audio.loading)]',
      'state "end" as s_end',
      's_end --> [*]',
      'stopped --> playing : play [(hasTrack && !locked)]',
      'playing --> stopped : stop',
      'note right of playing',
      'playing, in any substate:',
      'note left of stopped',
      'player, in any state:',
      'reset → stopped',
    ]) {
      expect(mermaid).toContain(line);
    }
    // The root is never drawn as a state of its own.
    expect(mermaid.some((l) => /^player( -->|$)|--> player\b/.test(l))).toBe(false);
  });

  test('DOT: clusters for compound states and a layout Graphviz accepts', async () => {
    const dot = toDot(graph);
    expect(dot).toContain('subgraph "cluster_playing" {');
    expect(dot).toContain('graph [label="playing\\nin any substate: tick / assign", style=dashed];');
    expect(dot).toContain('"stopped" -> "playing.audio.idle" [label="play [(hasTrack && !locked)]", lhead="cluster_playing"];');
    expect(dot).toContain('"stopped" -> "stopped" [label="poke / logPoke", style=dashed];');
    expect(dot).toContain('label="player\\nin any state: reset → stopped"');
    const { instance } = await import('@viz-js/viz');
    const svg = (await instance()).renderString(dot, { format: 'svg' });
    for (const id of ['stopped', 'loading', 'playing.audio.idle', 'end']) expect(svg).toContain(`<title>${id}</title>`);
  });

  test('DOT escapes quotes and backslashes in names', () => {
    const odd = createMachine({ id: 'odd', initial: 'a"b', states: { 'a"b': { on: { 'x\\y': 'c' } }, c: {} } });
    const dot = toDot(graphOf(odd));
    expect(dot).toContain('"a\\"b" [label="a\\"b"];');
    expect(dot).toContain('"a\\"b" -> "c" [label="x\\\\y"];');
  });
});

// ---------------------------------------------------------------------------------------------
// The command

describe('parseChartArgs', () => {
  test('defaults and flags', () => {
    expect(parseChartArgs([])).toEqual({ machine: 'alert', format: 'mermaid', output: undefined });
    expect(parseChartArgs(['--machine', 'root', '--format=dot', '-o', 'x.dot'])).toEqual({ machine: 'root', format: 'dot', output: 'x.dot' });
    expect(parseChartArgs(['-o', '-'])).toEqual({ machine: 'alert', format: 'mermaid', output: undefined });
    expect(parseChartArgs(['--help'])).toBeNull();
  });

  test.each([
    [['--format', 'png'], "--format must be mermaid, dot or svg, got 'png'"],
    [['--machine', 'foo'], "--machine must be alert or root, got 'foo'"],
    [['--bogus'], 'unknown option --bogus'],
    [['alert'], "unexpected argument 'alert'"],
    [['-o'], 'option -o needs a value'],
    [['-o', ''], '-o/--output must not be empty'],
  ])('%p is a usage error', (args, message) => {
    expect(() => parseChartArgs(args)).toThrow(message);
  });
});

describe('runChart', () => {
  const run = async (args: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runChart(args, { out: (t) => out.push(t), err: (t) => err.push(t) });
    return { code, out: out.join('\n'), err };
  };

  test('prints the alert Mermaid by default, the root with --machine root', async () => {
    expect(await run([])).toEqual({ code: 0, out: toMermaid(graphOf(alertMachine)).trimEnd(), err: [] });
    expect(await run(['--machine', 'root', '--format', 'dot'])).toEqual({
      code: 0,
      out: toDot(graphOf(monitorMachine)).trimEnd(),
      err: [],
    });
  });

  test('a usage error is one error line and the usage, exit 2', async () => {
    expect(await run(['--format', 'png'])).toEqual({
      code: 2,
      out: '',
      err: ["error: --format must be mermaid, dot or svg, got 'png'", USAGE],
    });
  });

  test('an unwritable output is exit 1 with one line', async () => {
    const result = await run(['-o', '/dev/null/x.mmd']);
    expect(result.code).toBe(1);
    expect(result.err).toEqual(['error: cannot write /dev/null/x.mmd: a parent is not a directory']);
  });

  test('renderChart svg is Graphviz SVG', async () => {
    const svg = await renderChart(alertMachine, 'svg');
    expect(svg).toMatch(/^(<\?xml|<svg)/);
    expect(svg).toContain('<title>normal</title>');
  });
});

describe('bun entry.ts chart (a process)', () => {
  type Spawned = ReturnType<typeof Bun.spawn<'ignore', 'pipe', 'pipe'>>;
  const running = new Set<Spawned>();
  const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'hlm-chart-'));

  afterEach(() => {
    for (const proc of running) proc.kill('SIGKILL');
    running.clear();
  });
  afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

  async function chart(args: string[]) {
    const proc = Bun.spawn([BUN, 'entry.ts', 'chart', ...args], {
      cwd: ROOT,
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      env: { ...process.env, NO_COLOR: '1' },
    });
    running.add(proc);
    const [stdout, stderr, code] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    running.delete(proc);
    return { code, stdout, stderr };
  }

  test('--format svg -o FILE writes an SVG with the states as node titles', async () => {
    const file = path.join(tmpRoot, 'out', 'alert.svg');
    const result = await chart(['--format', 'svg', '-o', file]);
    expect(result).toEqual({ code: 0, stdout: '', stderr: '' });
    const svg = fs.readFileSync(file, 'utf8');
    expect(svg).toMatch(/^(<\?xml|<svg)/);
    expect(svg).toContain('<svg');
    expect(svg).toContain('<title>normal</title>');
    expect(svg).toContain('<title>alerting</title>');
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  });

  test('stdout by default; -o FILE for dot; --machine root', async () => {
    expect(await chart([])).toEqual({ code: 0, stdout: toMermaid(graphOf(alertMachine)), stderr: '' });
    const file = path.join(tmpRoot, 'root.dot');
    expect(await chart(['--machine', 'root', '--format', 'dot', '-o', file])).toEqual({ code: 0, stdout: '', stderr: '' });
    expect(fs.readFileSync(file, 'utf8')).toBe(toDot(graphOf(monitorMachine)));
    const root = await chart(['--machine', 'root']);
    expect(root.code).toBe(0);
    for (const text of ['running', 'done', 'after statsEvery', ': end', ': stop']) expect(root.stdout).toContain(text);
  });

  test.each([[['--format', 'png']], [['--machine', 'foo']], [['--bogus']]])('%p: exit 2, error and usage', async (args) => {
    const result = await chart(args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const err = result.stderr.trimEnd().split('\n');
    expect(err).toHaveLength(2);
    expect(err[0]).toMatch(/^error: /);
    expect(err[1]).toBe(USAGE);
  });

  test('--help: usage on stdout, exit 0', async () => {
    const result = await chart(['--help']);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    for (const flag of ['--machine', '--format', '--output', 'mermaid|dot|svg']) expect(result.stdout).toContain(flag);
  });
});
