// The inspector page: one EventSource, no polling, no inline code (the page runs under a strict CSP).
// What comes from the log or the rules (sections, alert lines, file names) is set as textContent,
// never as markup.
'use strict';

const $ = (id) => document.getElementById(id);
let model = null;

function text(el, value) {
  el.textContent = String(value);
}

async function loadChart() {
  const response = await fetch('/statechart.svg');
  const svg = new DOMParser().parseFromString(await response.text(), 'image/svg+xml').documentElement;
  $('chart').replaceChildren(document.importNode(svg, true));
  for (const node of document.querySelectorAll('#chart g.node')) {
    const title = node.querySelector('title');
    if (title) node.dataset.state = title.textContent;
  }
  showState();
}

function showState() {
  if (!model) return;
  text($('state'), model.state);
  $('state').dataset.state = model.state;
  for (const node of document.querySelectorAll('#chart g.node')) {
    node.classList.toggle('active', node.dataset.state === model.state);
  }
}

function showWindow() {
  const average = model.windowHits / model.windowSeconds;
  text($('avg'), average.toFixed(2));
  text($('hits'), model.windowHits);
  text($('window'), model.windowSeconds);
  text($('threshold'), model.threshold);
  // The meter spans 0 to twice the threshold; the threshold mark sits in the middle.
  const ratio = Math.min(1, average / (2 * model.threshold));
  $('meter-fill').style.width = `${(ratio * 100).toFixed(1)}%`;
  $('meter-fill').classList.toggle('over', average > model.threshold);
  const series = model.series;
  const max = Math.max(model.threshold * 1.25, ...series, 1);
  const step = series.length > 1 ? 600 / (series.length - 1) : 600;
  $('series-line').setAttribute(
    'points',
    series.map((v, i) => `${(i * step).toFixed(1)},${(120 - (v / max) * 115).toFixed(1)}`).join(' '),
  );
  const y = (120 - (model.threshold / max) * 115).toFixed(1);
  $('series-threshold').setAttribute('y1', y);
  $('series-threshold').setAttribute('y2', y);
}

/** A table row of text cells. */
function row(cells) {
  const tr = document.createElement('tr');
  for (const value of cells) {
    const td = document.createElement('td');
    text(td, value);
    tr.append(td);
  }
  return tr;
}

/** A latency line (`p50 12 ms · …`, formatted by the monitor), hidden when the interval had no timed line. */
function showLatency(id, value) {
  $(id).hidden = !value;
  text($(`${id}-text`), value ?? '');
}

function showStats() {
  // A p99 column only when a section was timed: a log without durations shows the table it always did.
  const timed = model.sections.some((s) => s.length > 2);
  $('p99-head').hidden = !timed;
  $('sections-body').replaceChildren(
    ...model.sections.map(([section, hits, p99]) => row(timed ? [section, hits, p99 ?? ''] : [section, hits])),
  );
  const vhosts = model.vhosts ?? [];
  $('vhosts').hidden = vhosts.length === 0;
  $('vhosts-body').replaceChildren(...vhosts.map(([vhost, hits]) => row([vhost, hits])));
  const last = model.last;
  // Times come formatted by the monitor (ISO-8601, its zone), as its terminal prints them.
  text($('interval'), last ? `${last.from} → ${last.to.slice(11)} · ${last.hits} hits · ${last.invalid} invalid` : '');
  showLatency('latency', last?.latency);
  showLatency('upstream', last?.upstream);
}

function showHistory() {
  $('history-list').replaceChildren(
    ...model.history.map((h) => {
      const li = document.createElement('li');
      li.className = h.type;
      text(li, h.message);
      return li;
    }),
  );
}

function showActive() {
  const active = model.active ?? [];
  $('active').hidden = active.length === 0;
  text($('active-count'), String(active.length));
  $('active-list').replaceChildren(
    ...active.map((a) => {
      const li = document.createElement('li');
      li.className = 'alert';
      text(li, a.message);
      return li;
    }),
  );
}

function apply(update) {
  switch (update.type) {
    case 'model':
      model = update.model;
      text($('files'), model.files.join(', '));
      showState();
      showWindow();
      showStats();
      showHistory();
      showActive();
      break;
    case 'state':
      model.state = update.state;
      showState();
      break;
    case 'window':
      model.windowHits = update.hits;
      model.series = update.series;
      showWindow();
      break;
    case 'stats':
      model.sections = update.sections;
      model.vhosts = update.vhosts;
      model.last = update.last;
      showStats();
      break;
    case 'history':
      model.history.unshift(update.entry);
      // The page keeps what the monitor keeps: the last historyLimit transitions.
      model.history.length = Math.min(model.history.length, model.historyLimit ?? 100);
      model.active = update.active;
      showHistory();
      showActive();
      break;
  }
}

function connect() {
  const events = new EventSource('/events');
  events.onopen = () => {
    text($('connection'), 'live');
    $('connection').className = 'online';
  };
  events.onerror = () => {
    text($('connection'), 'disconnected (retrying)');
    $('connection').className = 'offline';
  };
  events.onmessage = (message) => apply(JSON.parse(message.data));
}

loadChart();
connect();
