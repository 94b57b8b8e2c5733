/**
 * A statechart as a plain graph, read from an XState v5 machine definition (its `root`
 * StateNode), and drawn as Mermaid `stateDiagram-v2` or Graphviz DOT.
 *
 * Nothing here is written by hand per machine: states come from `stateNode.states`
 * (recursively), transitions from `stateNode.transitions` (events), `stateNode.after` (delayed)
 * and `stateNode.always` (eventless), each labelled
 *
 *     <trigger> [<guard>] / <action>, <action>
 *
 * where the trigger is the event type, `after <delay name>` / `after <n>ms`, or `always`.
 *
 * Targetless transitions (`on: { poke: { actions: 'logPoke' } }`) are internal: the state
 * is neither exited nor re-entered. In the graph they are `to === from` with `internal: true`
 * (an external self-transition such as `target: 'normal', reenter: true` has `internal: false`).
 * Transitions defined on the machine's root have `from === graph.id` (the machine id); the root
 * itself is not one of `graph.states` and has no box in either drawing. How they are drawn:
 *  - Mermaid: internal transitions as a note on their state; the root's transitions (internal,
 *    or targeted as `reset → stopped`) in a note on the root's initial state, headed
 *    "<machine id>, in any state:" (Mermaid does not render descriptions of composite states).
 *  - DOT: the root's transitions in the graph label under the machine id ("in any state: …"),
 *    a compound state's internal ones in its cluster label, an atomic state's as a dashed
 *    self-loop.
 */
import type { AnyStateMachine, AnyStateNode } from 'xstate';

export interface GraphState {
  /** The state's key where no other state has the same key, else its dotted path. */
  id: string;
  /** Keys from the root down to this state, as in `StateNode.path`. */
  path: string[];
  /** The state its parent enters first (the parent's `initial`). */
  initial: boolean;
  final: boolean;
  /** The parent state's id; absent for states directly under the root. */
  parent?: string;
  /** `StateNode.type`: atomic, compound, parallel, final or history. */
  type: AnyStateNode['type'];
}

export interface GraphTransition {
  /** Source state id, or the graph id for a transition defined on the root. */
  from: string;
  /** Target state id; equal to `from` for a targetless (internal) transition. */
  to: string;
  /** `<trigger> [<guard>] / <actions>`, e.g. `always [overThreshold] / markAlertStart, announceAlert`. */
  label: string;
  kind: 'event' | 'after' | 'always';
  /** The event type, `after <delay>` or `always`. */
  trigger: string;
  guard?: string;
  actions: string[];
  /** No target: runs its actions without leaving the state. */
  internal: boolean;
}

export interface StatechartGraph {
  /** The machine id (the root state node's key). */
  id: string;
  /** Every state below the root, parents before children, in document order. */
  states: GraphState[];
  transitions: GraphTransition[];
}

// ---------------------------------------------------------------------------------------------
// Reading the machine

/** The states and transitions of `machine`, walked from `machine.root`. */
export function graphOf(machine: AnyStateMachine): StatechartGraph {
  const root = machine.root;
  const nodes: AnyStateNode[] = [];
  const collect = (node: AnyStateNode) => {
    for (const child of Object.values(node.states) as AnyStateNode[]) {
      nodes.push(child);
      collect(child);
    }
  };
  collect(root);

  const keyCount = new Map<string, number>();
  for (const node of nodes) keyCount.set(node.key, (keyCount.get(node.key) ?? 0) + 1);
  const idOf = (node: AnyStateNode): string => {
    if (node === root) return root.key;
    return keyCount.get(node.key) === 1 ? node.key : node.path.join('.');
  };

  const states: GraphState[] = nodes.map((node) => {
    const parent = node.parent;
    const state: GraphState = {
      id: idOf(node),
      path: [...node.path],
      initial: Boolean(parent?.initial?.target.includes(node)),
      final: node.type === 'final',
      type: node.type,
    };
    if (parent && parent !== root) state.parent = idOf(parent);
    return state;
  });

  const transitions: GraphTransition[] = [];
  const add = (
    source: AnyStateNode,
    kind: GraphTransition['kind'],
    trigger: string,
    t: { target?: ReadonlyArray<AnyStateNode>; guard?: unknown; actions?: readonly unknown[] },
  ) => {
    const guard = t.guard === undefined ? undefined : guardName(t.guard);
    const actions = (t.actions ?? []).map(actionName).filter((a): a is string => a !== undefined);
    const label = transitionLabel(trigger, guard, actions);
    const from = idOf(source);
    const targets = t.target ?? [];
    if (targets.length === 0) {
      transitions.push({ from, to: from, label, kind, trigger, guard, actions, internal: true });
    }
    for (const target of targets) {
      transitions.push({ from, to: idOf(target), label, kind, trigger, guard, actions, internal: false });
    }
  };
  for (const node of [root, ...nodes]) {
    const delayed = node.after;
    const delayedTypes = new Set(delayed.map((t) => t.eventType));
    for (const [eventType, list] of node.transitions) {
      if (delayedTypes.has(eventType)) continue;
      for (const t of list) add(node, 'event', eventType, t);
    }
    for (const t of delayed) add(node, 'after', `after ${delayName(t.delay)}`, t);
    for (const t of node.always ?? []) add(node, 'always', 'always', t);
  }
  return { id: root.key, states, transitions };
}

function transitionLabel(trigger: string, guard: string | undefined, actions: string[]): string {
  let label = trigger;
  if (guard !== undefined) label += ` [${guard}]`;
  if (actions.length) label += ` / ${actions.join(', ')}`;
  return label;
}

function delayName(delay: unknown): string {
  if (typeof delay === 'number') return `${delay}ms`;
  if (typeof delay === 'string') return delay;
  return 'delay';
}

/** Names a guard: a name, `{ type }`, `not`/`and`/`or`/`stateIn`, a named function; else `inline`. */
function guardName(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (guard && typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') {
    return (guard as { type: string }).type;
  }
  if (typeof guard === 'function') {
    const fn = guard as ((...args: never[]) => unknown) & { guards?: unknown[]; stateValue?: unknown; check?: unknown };
    if (fn.check && Array.isArray(fn.guards)) {
      const parts = fn.guards.map(guardName);
      if (fn.name === 'not') return `!${parts[0]}`;
      if (fn.name === 'and') return `(${parts.join(' && ')})`;
      if (fn.name === 'or') return `(${parts.join(' || ')})`;
    }
    if (fn.check && fn.stateValue !== undefined) {
      const value = typeof fn.stateValue === 'string' ? fn.stateValue : JSON.stringify(fn.stateValue);
      return `in(${value})`;
    }
    if (fn.name && fn.name !== 'guard') return fn.name;
  }
  return 'inline';
}

/**
 * Names an action: a name, `{ type }`, a built-in action creator by its type (`xstate.assign`
 * → `assign`) or a named function. Anonymous inline functions are left out (undefined).
 */
function actionName(action: unknown): string | undefined {
  if (typeof action === 'string') return action;
  if (action && (typeof action === 'object' || typeof action === 'function')) {
    const type = (action as { type?: unknown }).type;
    if (typeof type === 'string') return type.replace(/^xstate\./, '');
  }
  if (typeof action === 'function' && action.name && !['actions', 'entry', 'exit'].includes(action.name)) {
    return action.name;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Shared by the renderers

interface Tree {
  graph: StatechartGraph;
  byId: Map<string, GraphState>;
  /** Children of a state id; the root's under the graph id. */
  children: Map<string, GraphState[]>;
}

function treeOf(graph: StatechartGraph): Tree {
  const byId = new Map(graph.states.map((s) => [s.id, s]));
  const children = new Map<string, GraphState[]>();
  for (const s of graph.states) {
    const parent = s.parent ?? graph.id;
    children.set(parent, [...(children.get(parent) ?? []), s]);
  }
  return { graph, byId, children };
}

/** Ancestors of a state id, nearest first, ending with the graph id. */
function ancestors(tree: Tree, id: string): string[] {
  const out: string[] = [];
  let state = tree.byId.get(id);
  while (state) {
    const parent = state.parent ?? tree.graph.id;
    out.push(parent);
    state = state.parent === undefined ? undefined : tree.byId.get(state.parent);
  }
  return out.length ? out : [tree.graph.id];
}

/** The innermost state (or the graph id) containing both ends, where Mermaid declares an edge. */
function edgeScope(tree: Tree, t: GraphTransition): string {
  if (t.from === tree.graph.id) return tree.graph.id;
  const fromUp = [t.from, ...ancestors(tree, t.from)];
  const toUp = new Set(t.to === t.from ? fromUp : [t.to, ...ancestors(tree, t.to)]);
  for (const id of fromUp) {
    if (id === t.from || id === t.to) continue;
    if (toUp.has(id)) return id;
  }
  return tree.graph.id;
}

/**
 * A transition listed in a note or label instead of drawn: internal ones as their label, the
 * root's targeted ones (from any state) with their target, `reset → stopped`.
 */
function noteLine(t: GraphTransition): string {
  return t.internal ? t.label : `${t.label} → ${t.to}`;
}

function hasChildren(tree: Tree, id: string): boolean {
  return (tree.children.get(id)?.length ?? 0) > 0;
}

// ---------------------------------------------------------------------------------------------
// Mermaid

const MERMAID_KEYWORDS = new Set([
  'state', 'note', 'end', 'direction', 'class', 'classdef', 'style', 'click', 'as', 'left', 'right', 'of',
  'hide', 'scale', 'stateDiagram', 'stateDiagram-v2', 'accTitle', 'accDescr', 'default',
].map((k) => k.toLowerCase()));

/** Mermaid ids: letters, digits and `_`, unique, no keywords; other names get `state "name" as id`. */
function mermaidIds(graph: StatechartGraph): Map<string, string> {
  const ids = new Map<string, string>();
  const used = new Set<string>();
  for (const s of graph.states) {
    let base = s.id.replace(/[^A-Za-z0-9_]/g, '_') || 'state';
    if (MERMAID_KEYWORDS.has(base.toLowerCase())) base = `s_${base}`;
    let id = base;
    for (let n = 2; used.has(id); n++) id = `${base}_${n}`;
    used.add(id);
    ids.set(s.id, id);
  }
  return ids;
}

/** Text after ` : ` on a Mermaid line: one line, `#`, `:` and `;` as entity codes (the lexer stops at them). */
function mermaidText(text: string): string {
  const codes: Record<string, string> = { '#': '#35;', ':': '#58;', ';': '#59;' };
  return text.replace(/[\r\n]+/g, ' ').replace(/[#:;]/g, (c) => codes[c]!);
}

/** `stateDiagram-v2` text: `[*] --> normal`, `normal --> alerting : always [overThreshold] / …`. */
export function toMermaid(graph: StatechartGraph): string {
  const tree = treeOf(graph);
  const ids = mermaidIds(graph);
  const mid = (id: string) => ids.get(id) ?? id;
  const lines: string[] = ['stateDiagram-v2'];

  const edgesByScope = new Map<string, GraphTransition[]>();
  const internal = new Map<string, GraphTransition[]>();
  for (const t of graph.transitions) {
    if (t.internal || t.from === graph.id) {
      internal.set(t.from, [...(internal.get(t.from) ?? []), t]);
      continue;
    }
    const scope = edgeScope(tree, t);
    edgesByScope.set(scope, [...(edgesByScope.get(scope) ?? []), t]);
  }

  const note = (indent: string, side: 'left' | 'right', on: string, heading: string | undefined, ts: GraphTransition[]) => {
    lines.push(`${indent}note ${side} of ${mid(on)}`);
    if (heading) lines.push(`${indent}    ${heading}`);
    for (const t of ts) lines.push(`${indent}    ${noteLine(t).replace(/[\r\n]+/g, ' ')}`);
    lines.push(`${indent}end note`);
  };

  const block = (scope: string, indent: string) => {
    const kids = tree.children.get(scope) ?? [];
    const parentState = tree.byId.get(scope);
    const parallel = parentState?.type === 'parallel';
    kids.forEach((s, i) => {
      if (parallel && i > 0) lines.push(`${indent}--`);
      const name = mid(s.id);
      if (hasChildren(tree, s.id)) {
        lines.push(name === s.id ? `${indent}state ${name} {` : `${indent}state "${s.id}" as ${name} {`);
        block(s.id, `${indent}    `);
        lines.push(`${indent}}`);
      } else if (name !== s.id) {
        lines.push(`${indent}state "${s.id}" as ${name}`);
      } else {
        lines.push(`${indent}${name}`);
      }
    });
    for (const s of kids) if (s.initial) lines.push(`${indent}[*] --> ${mid(s.id)}`);
    for (const t of edgesByScope.get(scope) ?? []) {
      lines.push(`${indent}${mid(t.from)} --> ${mid(t.to)} : ${mermaidText(t.label)}`);
    }
    for (const s of kids) if (s.final) lines.push(`${indent}${mid(s.id)} --> [*]`);
    for (const s of kids) {
      const ts = internal.get(s.id);
      if (ts) note(indent, 'right', s.id, hasChildren(tree, s.id) ? `${s.id}, in any substate:` : undefined, ts);
    }
  };
  block(graph.id, '    ');

  const rootInternal = internal.get(graph.id);
  if (rootInternal) {
    const top = tree.children.get(graph.id) ?? [];
    const anchor = top.find((s) => s.initial) ?? top[0];
    if (anchor) note('    ', 'left', anchor.id, `${graph.id}, in any state:`, rootInternal);
  }
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// DOT

/** A DOT double-quoted string. */
function quote(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n')}"`;
}

/**
 * Graphviz DOT: a node per atomic or final state whose id is the state id (so an SVG has
 * `<title>normal</title>`), compound states as clusters, an entry arrow from a point node to
 * each initial state, final states as double circles.
 */
export function toDot(graph: StatechartGraph): string {
  const tree = treeOf(graph);
  const internal = new Map<string, GraphTransition[]>();
  for (const t of graph.transitions) {
    if (t.internal || t.from === graph.id) internal.set(t.from, [...(internal.get(t.from) ?? []), t]);
  }
  const internalLines = (id: string, heading: string) =>
    (internal.get(id) ?? []).map((t, i) => (i === 0 ? `${heading} ${noteLine(t)}` : noteLine(t)));

  const compound = (id: string) => hasChildren(tree, id);
  /** The node an edge to/from a cluster attaches to: its initial (or first) leaf. */
  const anchor = (id: string): string => {
    let current = id;
    while (compound(current)) {
      const kids = tree.children.get(current)!;
      current = (kids.find((s) => s.initial) ?? kids[0]!).id;
    }
    return current;
  };
  const startId = (scope: string) => (scope === graph.id ? '__start__' : `__start__.${scope}`);

  const lines: string[] = [`digraph ${quote(graph.id)} {`];
  lines.push(
    `    graph [label=${quote([graph.id, ...internalLines(graph.id, 'in any state:')].join('\n'))}, labelloc=t, fontname="Helvetica", rankdir=LR, compound=true];`,
  );
  lines.push('    node [shape=box, style=rounded, fontname="Helvetica"];');
  lines.push('    edge [fontname="Helvetica", fontsize=10];');

  const block = (scope: string, indent: string) => {
    const kids = tree.children.get(scope) ?? [];
    if (kids.some((s) => s.initial)) {
      lines.push(`${indent}${quote(startId(scope))} [shape=point, width=0.15, label=""];`);
    }
    for (const s of kids) {
      if (compound(s.id)) {
        lines.push(`${indent}subgraph ${quote(`cluster_${s.id}`)} {`);
        const label = [s.id, ...internalLines(s.id, 'in any substate:')].join('\n');
        const style = s.type === 'parallel' ? 'dashed' : 'rounded';
        lines.push(`${indent}    graph [label=${quote(label)}, style=${style}];`);
        block(s.id, `${indent}    `);
        lines.push(`${indent}}`);
      } else if (s.final) {
        lines.push(`${indent}${quote(s.id)} [label=${quote(s.id)}, shape=doublecircle];`);
      } else {
        lines.push(`${indent}${quote(s.id)} [label=${quote(s.id)}];`);
      }
    }
    for (const s of kids) {
      if (!s.initial) continue;
      const head = compound(s.id) ? `, lhead=${quote(`cluster_${s.id}`)}` : '';
      lines.push(`${indent}${quote(startId(scope))} -> ${quote(anchor(s.id))}${head ? ` [${head.slice(2)}]` : ''};`);
    }
  };
  block(graph.id, '    ');

  for (const t of graph.transitions) {
    if (t.from === graph.id || (t.internal && compound(t.from))) continue; // in a label above
    const attrs = [`label=${quote(t.label)}`];
    if (t.internal) attrs.push('style=dashed');
    if (compound(t.from)) attrs.push(`ltail=${quote(`cluster_${t.from}`)}`);
    if (compound(t.to) && t.to !== t.from) attrs.push(`lhead=${quote(`cluster_${t.to}`)}`);
    lines.push(`    ${quote(anchor(t.from))} -> ${quote(anchor(t.to))} [${attrs.join(', ')}];`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
