// Small DOM helpers and formats for the console. Elements are built with the DOM API (never from HTML
// strings), so text from the server (errors, raw rejected rows) can never become markup.

/** `h('a', { href: '#/runs' }, 'Runs')`: an element with attributes (`class`, `on:click`...) and children. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on:')) element.addEventListener(name.slice(3), value);
    else if (name === 'dataset') Object.assign(element.dataset, value);
    else if (value === true) element.setAttribute(name, '');
    else element.setAttribute(name, String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function fill(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

/** A table that becomes one card per row on narrow screens (each cell labelled by its column). */
export function table(caption, columns, rows, { empty = 'Nothing yet.' } = {}) {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'cards' },
      h('caption', {}, caption),
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.numeric ? 'num' : null }, c.label)))),
      h('tbody', {}, rows.map((row) => h('tr', row.attributes || {},
        columns.map((c) => h('td', { 'data-label': c.label, class: c.numeric ? 'num' : null }, h('span', { class: 'cell' }, c.cell(row.value)))))))));
}

const numberFormat = new Intl.NumberFormat('en');

export function number(n) {
  return n === null || n === undefined ? '—' : numberFormat.format(n);
}

/** An instant as `2026-12-01 02:03 UTC`, in a <time> element. */
export function instant(iso) {
  if (!iso) return '—';
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  const text = `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  return h('time', { datetime: at.toISOString(), title: `${ago(at)}` }, text);
}

/** `3 h ago`, `in 20 min`. */
export function ago(at) {
  const seconds = Math.round((Date.now() - at.getTime()) / 1000);
  const span = duration(Math.abs(seconds));
  return seconds >= 0 ? `${span} ago` : `in ${span}`;
}

/** A span of seconds as `45 s`, `12 min 3 s`, `5 h 2 min`, `3 d 4 h`. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** How long a run took (or has taken so far). */
export function runDuration(run) {
  const start = new Date(run.startedAt).getTime();
  const end = run.finishedAt ? new Date(run.finishedAt).getTime() : Date.now();
  return duration((end - start) / 1000);
}

/** A run's status as a coloured badge with its word (colour is never the only signal). */
export function statusBadge(status) {
  return h('span', { class: `badge status-${status}`, 'data-status': status }, status);
}

/** A source's freshness: failing, stale or fresh, as colour and text. */
export function freshness(source) {
  const state = source.failing ? 'failing' : source.stale ? 'stale' : 'fresh';
  const why = {
    failing: 'its newest finished run failed',
    stale: source.lastSuccessAt ? 'its last success is older than its cadence' : 'it never succeeded',
    fresh: 'its last success is within its cadence',
  }[state];
  return h('span', { class: `badge fresh-${state}`, 'data-freshness': state, title: why }, state);
}

export function runLink(run, text) {
  return h('a', { href: `#/runs/${run.number}` }, text || `#${run.number}`);
}

/** An error message block. */
export function errorBox(message, code) {
  return h('p', { class: 'error', role: 'alert' }, code ? h('code', {}, code) : null, code ? ' ' : null, message);
}
