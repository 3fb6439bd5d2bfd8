// The operator console: hash routes (#/sources, #/runs, #/runs/<n>, #/run-now), each a function that
// renders into <main>. Reads need nothing; runs and cancels send the operator token. Live progress
// comes from the `ingestRunUpdated` subscription, or from polling `ingestRun` every second when the
// WebSocket or the field is not there. Fields the server lacks (an older server) are never asked for.

import { gql, subscribe, token, setToken, GraphQLError } from './gql.js';
import {
  h, fill, table, number, instant, duration, runDuration, statusBadge, freshness, runLink, errorBox,
} from './views.js';

const view = document.getElementById('view');
const liveState = document.getElementById('live-state');
const RUNS_PAGE = 100;
const REJECTED_PAGE = 25;
const TERMINAL = new Set(['succeeded', 'failed', 'interrupted', 'cancelled']);

/** Work to undo when the page changes (subscriptions, timers). */
let cleanups = [];
/** Counts page changes, so that work started for a page that is gone stops. */
let generation = 0;
function onLeave(fn) { cleanups.push(fn); }

// ---------------------------------------------------------------------------------------------------
// What the server offers

let capabilities;
/**
 * Which optional parts the server has, asked once by introspection: run phase/progress/payloads, the
 * `ingestRunUpdated` subscription, the webhook delivery log. The console never asks for a field the
 * server lacks, so it works against older servers.
 */
async function capabilitiesOf() {
  if (!capabilities) {
    const names = (type) => new Set(((type && type.fields) || []).map((f) => f.name));
    capabilities = gql(`query Capabilities { __schema { queryType { fields { name } } subscriptionType { fields { name } } }
        run: __type(name: "IngestRun") { fields { name } } }`)
      .then((data) => {
        const run = names(data.run);
        return {
          phase: run.has('phase'),
          progress: run.has('progress'),
          payloads: run.has('payloads'),
          subscription: names(data.__schema.subscriptionType).has('ingestRunUpdated'),
          webhooks: names(data.__schema.queryType).has('webhookDeliveries'),
        };
      })
      .catch(() => ({ phase: false, progress: false, payloads: false, subscription: false, webhooks: false }));
  }
  return capabilities;
}

async function runFields() {
  const caps = await capabilitiesOf();
  return [
    'id number source status trigger dryRun startedAt finishedAt fetched inserted updated unchanged rejected error params',
    caps.phase ? 'phase' : '',
    caps.progress ? 'progress { stepsDone stepsTotal rowsSoFar }' : '',
  ].join(' ');
}

// ---------------------------------------------------------------------------------------------------
// Live runs: the subscription, or polling as the fallback

/**
 * Calls `onRun(run)` for each change of the runs `wanted(run)` accepts, while the page is shown.
 * `pollIds()` lists the run numbers to poll (those still running); polling is every second without
 * the subscription and every 5 s beside it (a safety net for an event missed while connecting).
 * `refresh()`, if given, reads the page again every 15 s while there is no subscription (to see runs
 * started elsewhere).
 */
async function watchRuns({ source = null, wanted = () => true, pollIds, onRun, refresh = null }) {
  const page = generation;
  const caps = await capabilitiesOf();
  const fields = await runFields();
  if (page !== generation) return;
  let subscribed = false;
  let timer = null;
  let stopped = false;
  const poll = async () => {
    timer = null;
    const ids = pollIds();
    for (const id of ids) {
      try {
        const data = await gql(`query Run($id: ID!) { ingestRun(id: $id) { ${fields} } }`, { id: String(id) });
        if (data.ingestRun && !stopped) onRun(data.ingestRun);
      } catch { /* the next poll tries again */ }
    }
    schedule();
  };
  const schedule = () => {
    if (stopped || timer) return;
    timer = setTimeout(poll, subscribed ? 5000 : 1000);
  };
  // Without the subscription, runs started elsewhere only show when the list is read again.
  const refresher = refresh ? setInterval(() => { if (!subscribed && !stopped) refresh(); }, 15000) : null;
  onLeave(() => { stopped = true; if (timer) clearTimeout(timer); if (refresher) clearInterval(refresher); });
  const fallBack = (reason) => {
    subscribed = false;
    liveState.textContent = `Live updates: polling every second (${reason}).`;
    liveState.dataset.mode = 'polling';
  };
  if (caps.subscription) {
    const query = `subscription Runs($source: String) { ingestRunUpdated(source: $source) { ${fields} } }`;
    subscribed = true;
    liveState.textContent = 'Live updates: subscribed over WebSocket (graphql-transport-ws).';
    liveState.dataset.mode = 'subscription';
    const stop = subscribe(query, { source }, (data) => {
      const run = data && data.ingestRunUpdated;
      if (run && !stopped && wanted(run)) onRun(run);
    }, (reason) => { if (!stopped) fallBack(reason); });
    onLeave(stop);
  } else {
    fallBack('the server has no ingestRunUpdated subscription');
  }
  schedule();
}

// ---------------------------------------------------------------------------------------------------
// Shared pieces

function readOnlyNote() {
  return h('p', { class: 'note', 'data-read-only': '' },
    'Read-only: ', h('button', { type: 'button', class: 'link', 'on:click': askToken }, 'enter the operator token'),
    ' to run or cancel ingests.');
}

/** A running run's live progress: phase, rows so far and a <progress> bar; the end state otherwise. */
function progressOf(run) {
  if (run.status !== 'running') {
    return h('span', { class: 'progress-done' }, run.phase ? `phase: ${run.phase}` : '');
  }
  const p = run.progress;
  const bar = h('progress', {
    'aria-label': `Progress of run ${run.number}`,
    max: p && p.stepsTotal ? p.stepsTotal : null,
    value: p && p.stepsTotal ? Math.min(p.stepsDone, p.stepsTotal) : null,
  });
  const parts = [];
  if (run.phase) parts.push(h('span', { class: 'phase', 'data-phase': run.phase }, run.phase));
  if (p) {
    parts.push(h('span', { class: 'rows-so-far', 'data-rows': p.rowsSoFar }, `${number(p.rowsSoFar)} rows so far`));
    if (p.stepsTotal) parts.push(h('span', {}, `step ${p.stepsDone} of ${p.stepsTotal}`));
  }
  if (!parts.length) parts.push(h('span', {}, `in progress for ${runDuration(run)}`));
  return h('span', { class: 'progress' }, bar, ' ', parts.map((part, i) => [i ? ' · ' : '', part]));
}

function countsOf(run) {
  return `${number(run.fetched)} read · ${number(run.inserted)} inserted · ${number(run.updated)} updated · `
    + `${number(run.unchanged)} unchanged · ${number(run.rejected)} rejected`;
}

async function cancelRun(run, message) {
  fill(message, 'Cancelling…');
  try {
    const fields = await runFields();
    const data = await gql(`mutation Cancel($id: ID!) { cancelIngest(id: $id) { ${fields} } }`, { id: run.id }, { auth: true });
    fill(message, h('span', { role: 'status' }, 'Run ', runLink(data.cancelIngest), ' is now ', statusBadge(data.cancelIngest.status), '.'));
    return data.cancelIngest;
  } catch (e) {
    fill(message, failure(e));
    return null;
  }
}

function failure(e) {
  if (e instanceof GraphQLError && e.code === 'UNAUTHENTICATED') {
    return errorBox(`${e.message} Check the operator token.`, e.code);
  }
  return errorBox(e.message, e.code);
}

// ---------------------------------------------------------------------------------------------------
// Sources

async function sourcesPage() {
  const fields = await runFields();
  const data = await gql(`query Sources { sources { name schedule nextRunAt cadenceSeconds stale failing lastSuccessAt rows
      lastRun { ${fields} } lastSuccess { number finishedAt inserted updated rejected }
      lastFailure { number status finishedAt error } } }`);
  const columns = [
    { label: 'Source', cell: (s) => h('a', { href: `#/runs?source=${encodeURIComponent(s.name)}` }, s.name) },
    { label: 'Freshness', cell: (s) => freshness(s) },
    { label: 'Schedule', cell: (s) => (s.schedule ? h('code', {}, s.schedule) : 'by hand only') },
    { label: 'Next run', cell: (s) => instant(s.nextRunAt) },
    { label: 'Cadence', cell: (s) => duration(s.cadenceSeconds) },
    { label: 'Last success', cell: (s) => (s.lastSuccess ? [instant(s.lastSuccess.finishedAt), ' ', runLink(s.lastSuccess)] : 'never') },
    { label: 'Last failure', cell: (s) => (s.lastFailure
      ? h('span', {}, instant(s.lastFailure.finishedAt), ' ', runLink(s.lastFailure), s.lastFailure.error ? h('span', { class: 'small error-text' }, ` ${s.lastFailure.error}`) : '')
      : 'none') },
    { label: 'Latest run', cell: (s) => (s.lastRun ? h('span', {}, runLink(s.lastRun), ' ', statusBadge(s.lastRun.status), ' ', s.lastRun.status === 'running' ? progressOf(s.lastRun) : '') : '—') },
    { label: 'Rows', numeric: true, cell: (s) => number(s.rows) },
    { label: 'Action', cell: (s) => h('a', { class: 'button', href: `#/run-now?source=${encodeURIComponent(s.name)}` }, `Run ${s.name} now`) },
  ];
  const sourcesBox = h('div', {});
  const themesBox = h('section', { 'aria-labelledby': 'themes-title' },
    h('h2', { id: 'themes-title' }, 'Rows per theme and country'), h('p', { class: 'loading' }, 'Loading…'));
  fill(view,
    h('h1', {}, 'Sources'),
    h('p', { class: 'lede' }, 'Each source with its schedule and how fresh its data is against its cadence: ',
      h('span', { class: 'badge fresh-fresh' }, 'fresh'), ' (last success within the cadence), ',
      h('span', { class: 'badge fresh-stale' }, 'stale'), ' (older, or never), ',
      h('span', { class: 'badge fresh-failing' }, 'failing'), ' (the newest finished run failed).'),
    sourcesBox,
    themesBox);
  const renderSources = () => fill(sourcesBox, table('Sources', columns,
    data.sources.map((s) => ({ value: s, attributes: { 'data-source': s.name } })), { empty: 'No sources configured.' }));
  renderSources();
  themesTable(themesBox);
  // A source's latest run moves live; when it ends, the page is read again (last success, freshness).
  watchRuns({
    pollIds: () => data.sources.filter((s) => s.lastRun && s.lastRun.status === 'running').map((s) => s.lastRun.number),
    onRun: (run) => {
      const source = data.sources.find((s) => s.name === run.source);
      if (!source) return;
      if (!source.lastRun || source.lastRun.number <= run.number) source.lastRun = run;
      renderSources();
      if (run.status !== 'running') setTimeout(() => route(), 300);
    },
  });
}

async function themesTable(box) {
  try {
    const data = await gql('query Themes { countries { id name themes { theme rows periodEnd } } }');
    const themes = [...new Set(data.countries.flatMap((c) => c.themes.map((t) => t.theme)))].sort();
    const withRows = data.countries.filter((c) => c.themes.some((t) => t.rows > 0));
    const columns = [
      { label: 'Country', cell: (c) => h('span', {}, c.name, ' ', h('span', { class: 'muted' }, c.id.replace(/^Country:/, ''))) },
      ...themes.map((theme) => ({
        label: theme,
        numeric: true,
        cell: (c) => {
          const t = c.themes.find((x) => x.theme === theme);
          return t ? h('span', { title: t.periodEnd ? `figures up to ${t.periodEnd}` : null }, number(t.rows)) : '—';
        },
      })),
    ];
    fill(box, box.firstChild, table('Rows per theme and country', columns,
      withRows.map((c) => ({ value: c, attributes: { 'data-country': c.id } })), { empty: 'The store holds no figures yet.' }));
  } catch (e) {
    fill(box, box.firstChild, failure(e));
  }
}

// ---------------------------------------------------------------------------------------------------
// Runs

const STATUSES = ['running', 'succeeded', 'failed', 'interrupted', 'cancelled'];

async function runsPage(params) {
  const source = params.get('source') || '';
  const status = params.get('status') || '';
  const fields = await runFields();
  const sourceNames = (await gql('query Names { sources { name } }')).sources.map((s) => s.name);
  const form = h('form', { class: 'filters', 'aria-label': 'Filter runs', 'on:submit': (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    const f = new FormData(e.target);
    if (f.get('source')) next.set('source', f.get('source'));
    if (f.get('status')) next.set('status', f.get('status'));
    location.hash = `#/runs${next.toString() ? `?${next}` : ''}`;
  } },
  h('label', { for: 'filter-source' }, 'Source'),
  h('select', { id: 'filter-source', name: 'source' }, h('option', { value: '' }, 'all sources'),
    sourceNames.map((n) => h('option', { value: n, selected: n === source }, n))),
  h('label', { for: 'filter-status' }, 'Status'),
  h('select', { id: 'filter-status', name: 'status' }, h('option', { value: '' }, 'any status'),
    STATUSES.map((s) => h('option', { value: s, selected: s === status }, s))),
  h('button', { type: 'submit' }, 'Filter'));

  const runs = new Map();
  const body = h('div', { class: 'runs' });
  const more = h('p', {});
  const message = h('div', { 'aria-live': 'polite' });
  let cursor = null;
  let total = 0;
  const render = () => {
    const shown = [...runs.values()].filter((r) => !status || r.status === status).sort((a, b) => b.number - a.number);
    const columns = [
      { label: 'Run', cell: (r) => runLink(r) },
      { label: 'Source', cell: (r) => r.source },
      { label: 'Status', cell: (r) => h('span', {}, statusBadge(r.status), r.dryRun ? h('span', { class: 'badge dry' }, 'dry run') : '') },
      { label: 'Progress', cell: (r) => progressOf(r) },
      { label: 'Started', cell: (r) => instant(r.startedAt) },
      { label: 'Duration', cell: (r) => runDuration(r) },
      { label: 'Counts', cell: (r) => h('span', { class: 'small' }, countsOf(r)) },
      { label: 'Error', cell: (r) => (r.error ? h('span', { class: 'error-text small' }, r.error) : '') },
      { label: 'Action', cell: (r) => (r.status === 'running' && token()
        ? h('button', { type: 'button', 'on:click': async () => { const run = await cancelRun(r, message); if (run) { runs.set(run.number, run); render(); } } }, `Cancel run ${r.number}`)
        : '') },
    ];
    fill(body, table(`Runs${source ? ` of ${source}` : ''}${status ? `, ${status}` : ''}, newest first`, columns,
      shown.map((r) => ({ value: r, attributes: { 'data-run': r.number, 'data-status': r.status } })),
      { empty: status ? `No ${status} runs among the ${runs.size} newest.` : 'No runs yet.' }));
    fill(more, `${runs.size} of ${total} runs loaded`, status ? ` (status filter applied to those)` : '', '. ',
      cursor ? h('button', { type: 'button', 'on:click': load }, 'Load older runs') : '');
  };
  async function load() {
    const data = await gql(`query Runs($source: String, $after: String, $first: Int) {
        ingestRuns(source: $source, after: $after, first: $first) { totalCount pageInfo { hasNextPage endCursor } nodes { ${fields} } } }`,
    { source: source || null, after: cursor, first: RUNS_PAGE });
    const page = data.ingestRuns;
    total = page.totalCount;
    for (const run of page.nodes) runs.set(run.number, run);
    cursor = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    render();
  }
  fill(view, h('h1', {}, 'Runs'), token() ? null : readOnlyNote(), form, message, body, more);
  await load();
  watchRuns({
    source: source || null,
    refresh: async () => {
      const data = await gql(`query Newest($source: String) { ingestRuns(source: $source, first: 20) { totalCount nodes { ${fields} } } }`,
        { source: source || null }).catch(() => null);
      if (!data) return;
      total = data.ingestRuns.totalCount;
      for (const run of data.ingestRuns.nodes) runs.set(run.number, run);
      render();
    },
    pollIds: () => [...runs.values()].filter((r) => r.status === 'running').map((r) => r.number),
    onRun: (run) => {
      if (source && run.source !== source) return;
      runs.set(run.number, run);
      render();
    },
  });
  // Runs shown as running keep their duration moving.
  const tick = setInterval(() => { if ([...runs.values()].some((r) => r.status === 'running')) render(); }, 5000);
  onLeave(() => clearInterval(tick));
}

// ---------------------------------------------------------------------------------------------------
// One run

async function runPage(numberText) {
  const caps = await capabilitiesOf();
  const fields = await runFields();
  const data = await gql(`query Run($id: ID!) { ingestRun(id: $id) { ${fields} rejectedRows(first: 1000) { rowNumber reason raw }
      ${caps.payloads ? 'payloads { url httpStatus bytes sha256 fetchedAt }' : ''} } }`, { id: numberText });
  let run = data.ingestRun;
  if (!run) {
    fill(view, h('h1', {}, `Run ${numberText}`), errorBox('There is no run with this number.', 'NOT_FOUND'));
    return;
  }
  const summary = h('div', {});
  const message = h('div', { 'aria-live': 'polite' });
  const renderSummary = () => {
    fill(summary, h('dl', { class: 'facts' },
      h('dt', {}, 'Status'), h('dd', { id: 'run-status', 'data-status': run.status }, statusBadge(run.status), run.dryRun ? h('span', { class: 'badge dry' }, 'dry run') : ''),
      caps.phase ? [h('dt', {}, 'Phase'), h('dd', { id: 'run-phase' }, run.phase || '—')] : null,
      h('dt', {}, 'Progress'), h('dd', { id: 'run-progress' }, run.status === 'running' ? progressOf(run) : 'ended'),
      h('dt', {}, 'Source'), h('dd', {}, h('a', { href: `#/runs?source=${encodeURIComponent(run.source)}` }, run.source)),
      h('dt', {}, 'Trigger'), h('dd', {}, run.trigger),
      h('dt', {}, 'Parameters'), h('dd', {}, h('code', {}, run.params)),
      h('dt', {}, 'Started'), h('dd', {}, instant(run.startedAt)),
      h('dt', {}, 'Finished'), h('dd', {}, instant(run.finishedAt)),
      h('dt', {}, 'Duration'), h('dd', {}, runDuration(run)),
      h('dt', {}, 'Counts'), h('dd', { id: 'run-counts' }, countsOf(run)),
      run.error ? [h('dt', {}, 'Error'), h('dd', { class: 'error-text' }, run.error)] : null),
    run.status === 'running'
      ? (token()
        ? h('button', { type: 'button', class: 'danger', 'on:click': async () => { const r = await cancelRun(run, message); if (r) { run = { ...run, ...r }; renderSummary(); } } }, 'Cancel this run')
        : readOnlyNote())
      : null);
  };

  // Rejected rows, paged here; the CSV has them all.
  const rejected = run.rejectedRows;
  const rejectedBox = h('div', {});
  let page = 0;
  const pages = Math.max(1, Math.ceil(rejected.length / REJECTED_PAGE));
  const renderRejected = () => {
    const slice = rejected.slice(page * REJECTED_PAGE, (page + 1) * REJECTED_PAGE);
    fill(rejectedBox,
      table(`Rejected rows ${page * REJECTED_PAGE + 1}–${page * REJECTED_PAGE + slice.length} of ${rejected.length}`, [
        { label: 'Row', numeric: true, cell: (r) => number(r.rowNumber) },
        { label: 'Reason', cell: (r) => r.reason },
        { label: 'Raw row', cell: (r) => h('code', { class: 'raw' }, r.raw) },
      ], slice.map((r) => ({ value: r, attributes: { 'data-row': r.rowNumber } })), { empty: 'This run rejected no rows.' }),
      rejected.length > REJECTED_PAGE ? h('nav', { class: 'pager', 'aria-label': 'Rejected rows pages' },
        h('button', { type: 'button', disabled: page === 0, 'on:click': () => { page -= 1; renderRejected(); } }, 'Previous page'),
        h('span', {}, ` Page ${page + 1} of ${pages} `),
        h('button', { type: 'button', disabled: page + 1 >= pages, 'on:click': () => { page += 1; renderRejected(); } }, 'Next page'))
        : null);
  };

  const payloadBox = caps.payloads
    ? table('Payloads fetched', [
      { label: 'URL', cell: (p) => h('code', { class: 'url' }, p.url) },
      { label: 'HTTP status', numeric: true, cell: (p) => (p.httpStatus === null ? '—' : p.httpStatus) },
      { label: 'Bytes', numeric: true, cell: (p) => number(p.bytes) },
      { label: 'SHA-256', cell: (p) => (p.sha256 ? h('code', { class: 'hash', title: p.sha256 }, p.sha256.slice(0, 16), '…') : '—') },
      { label: 'Fetched', cell: (p) => instant(p.fetchedAt) },
    ], run.payloads.map((p) => ({ value: p })), { empty: 'This run fetched nothing (or the fetch was skipped).' })
    : h('p', { class: 'note' }, 'This server does not report fetched payloads yet.');

  const deliveriesBox = caps.webhooks ? h('section', { 'aria-labelledby': 'deliveries-title' },
    h('h2', { id: 'deliveries-title' }, 'Webhook deliveries')) : null;
  if (deliveriesBox) {
    gql(`query Deliveries($run: Int) { webhookDeliveries(first: 100, runNumber: $run) { ${DELIVERY_FIELDS} } }`, { run: run.number }, { auth: true })
      .then((d) => deliveriesBox.append(deliveriesTable(d.webhookDeliveries, `Webhook deliveries of run ${run.number}`)))
      .catch((e) => deliveriesBox.append(failure(e)));
  }
  fill(view,
    h('h1', {}, `Run ${run.number}: ${run.source}`),
    message, summary,
    h('section', { 'aria-labelledby': 'rejected-title' },
      h('h2', { id: 'rejected-title' }, `Rejected rows (${number(run.rejected)})`),
      run.rejected > rejected.length
        ? h('p', { class: 'note' }, `The store keeps ${number(rejected.length)} of the ${number(run.rejected)} rows this run rejected (the count stays exact).`)
        : null,
      h('p', {}, h('a', { class: 'button', href: `/export/runs/${run.number}/rejected.csv`, download: `run-${run.number}-rejected.csv` }, 'Download rejected rows as CSV')),
      rejectedBox),
    h('section', { 'aria-labelledby': 'payloads-title' }, h('h2', { id: 'payloads-title' }, 'Payloads fetched'), payloadBox),
    deliveriesBox);
  renderSummary();
  renderRejected();

  if (run.status === 'running') {
    watchRuns({
      source: run.source,
      wanted: (r) => r.number === run.number,
      pollIds: () => (run.status === 'running' ? [run.number] : []),
      onRun: (r) => {
        const ended = r.status !== 'running';
        run = { ...run, ...r };
        renderSummary();
        // At the end, reload once for the final rejected rows and payloads.
        if (ended) setTimeout(() => route(), 300);
      },
    });
    const tick = setInterval(() => { if (run.status === 'running') renderSummary(); }, 5000);
    onLeave(() => clearInterval(tick));
  }
}

// ---------------------------------------------------------------------------------------------------
// Webhook deliveries

const DELIVERY_FIELDS = 'id url event attempt httpStatus error status createdAt deliveredAt run { number source }';

function deliveriesTable(deliveries, caption) {
  return table(caption, [
    { label: 'Queued', cell: (d) => instant(d.createdAt) },
    { label: 'Run', cell: (d) => (d.run ? h('span', {}, runLink(d.run), ` ${d.run.source}`) : '—') },
    { label: 'Event', cell: (d) => d.event },
    { label: 'URL', cell: (d) => h('code', { class: 'url' }, d.url) },
    { label: 'State', cell: (d) => h('span', { class: `badge delivery-${d.status}`, 'data-delivery': d.status }, d.status) },
    { label: 'Attempts', numeric: true, cell: (d) => d.attempt },
    { label: 'HTTP status', numeric: true, cell: (d) => (d.httpStatus === null ? '—' : d.httpStatus) },
    { label: 'Delivered', cell: (d) => instant(d.deliveredAt) },
    { label: 'Error', cell: (d) => (d.error ? h('span', { class: 'error-text small' }, d.error) : '') },
  ], deliveries.map((d) => ({ value: d, attributes: { 'data-delivery-id': d.id } })), { empty: 'No webhook deliveries.' });
}

async function webhooksPage(params) {
  const caps = await capabilitiesOf();
  if (!caps.webhooks) {
    fill(view, h('h1', {}, 'Webhook deliveries'), h('p', { class: 'note' }, 'This server has no webhook delivery log.'));
    return;
  }
  const runNumber = params.get('run') ? Number(params.get('run')) : null;
  const data = await gql(`query Deliveries($run: Int) { webhookDeliveries(first: 200, runNumber: $run) { ${DELIVERY_FIELDS} } }`,
    { run: Number.isInteger(runNumber) ? runNumber : null }, { auth: true });
  const form = h('form', { class: 'filters', 'aria-label': 'Filter deliveries', 'on:submit': (e) => {
    e.preventDefault();
    const run = new FormData(e.target).get('run');
    location.hash = `#/webhooks${run ? `?run=${encodeURIComponent(run)}` : ''}`;
  } },
  h('label', { for: 'filter-run' }, 'Run number'),
  h('input', { id: 'filter-run', name: 'run', type: 'number', min: 1, value: runNumber || null, inputmode: 'numeric' }),
  h('button', { type: 'submit' }, 'Filter'));
  fill(view, h('h1', {}, 'Webhook deliveries'),
    h('p', { class: 'lede' }, 'The signed POSTs sent to the configured webhook URLs after runs that changed data, newest first: '
      + 'pending ones are retried with backoff; a receiver that is down never affects the run.'),
    form, deliveriesTable(data.webhookDeliveries, `Deliveries${runNumber ? ` of run ${runNumber}` : ''}, newest first`));
}

// ---------------------------------------------------------------------------------------------------
// Run now

async function runNowPage(params) {
  const names = (await gql('query Names { sources { name } }')).sources.map((s) => s.name);
  const chosen = params.get('source') || names[0];
  const result = h('div', { id: 'run-result', 'aria-live': 'polite' });
  const canAct = Boolean(token());
  const form = h('form', { class: 'run-now', 'on:submit': (e) => { e.preventDefault(); trigger(new FormData(e.target), result); } },
    h('div', { class: 'field' }, h('label', { for: 'run-source' }, 'Source'),
      h('select', { id: 'run-source', name: 'source' }, names.map((n) => h('option', { value: n, selected: n === chosen }, n)))),
    h('div', { class: 'field' }, h('label', { for: 'run-countries' }, 'Countries (ISO3, comma separated; empty: the configured ones)'),
      h('input', { id: 'run-countries', name: 'countries', type: 'text', autocomplete: 'off', placeholder: 'MLI, TCD', pattern: '[A-Za-z]{3}([ ,;]+[A-Za-z]{3})*[ ,;]*' })),
    h('div', { class: 'field check' }, h('input', { id: 'run-dry', name: 'dryRun', type: 'checkbox' }),
      h('label', { for: 'run-dry' }, 'Dry run (compute the counts, commit nothing)')),
    h('button', { type: 'submit', class: 'primary', id: 'run-submit', disabled: !canAct }, 'Run now'));
  fill(view, h('h1', {}, 'Run now'), canAct ? null : readOnlyNote(), form, result);
}

async function trigger(form, result) {
  const countries = String(form.get('countries') || '').split(/[\s,;]+/).filter(Boolean).map((c) => c.toUpperCase());
  const variables = { source: form.get('source'), countries: countries.length ? countries : null, dryRun: form.get('dryRun') === 'on' };
  fill(result, h('p', {}, 'Starting…'));
  let answer;
  try {
    const fields = await runFields();
    answer = (await gql(`mutation Run($source: String!, $countries: [String!], $dryRun: Boolean!) {
        triggerIngest(source: $source, countries: $countries, dryRun: $dryRun) { alreadyRunning run { ${fields} } } }`,
    variables, { auth: true })).triggerIngest;
  } catch (e) {
    fill(result, failure(e));
    return;
  }
  let run = answer.run;
  const line = h('p', { class: 'result-line' });
  const renderLine = () => fill(line,
    answer.alreadyRunning
      ? h('strong', { 'data-already-running': '' }, `Already running: `)
      : h('strong', {}, `Started${run.dryRun ? ' a dry run' : ''}: `),
    runLink(run, `run ${run.number} (${run.source})`), ' ',
    h('span', { id: 'result-status', 'data-status': run.status }, statusBadge(run.status)), ' ',
    run.status === 'running' ? progressOf(run) : h('span', { class: 'small' }, countsOf(run)));
  renderLine();
  fill(result, line, answer.alreadyRunning
    ? h('p', { class: 'note' }, 'No second run started: this source was already running (maybe a dry run, or other countries). Follow it on its page.')
    : null);
  if (run.status === 'running') {
    watchRuns({
      source: run.source,
      wanted: (r) => r.number === run.number,
      pollIds: () => (run.status === 'running' ? [run.number] : []),
      onRun: (r) => { run = { ...run, ...r }; renderLine(); },
    });
  }
}

// ---------------------------------------------------------------------------------------------------
// Token, routing, start

const dialog = document.getElementById('token-dialog');
function askToken() {
  document.getElementById('token-input').value = '';
  dialog.showModal();
}
document.getElementById('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const value = document.getElementById('token-input').value.trim();
  if (!value) return;
  setToken(value);
  dialog.close();
  showToken();
  route();
});
document.getElementById('token-cancel').addEventListener('click', () => dialog.close());
document.getElementById('token-button').addEventListener('click', () => {
  if (token()) { setToken(null); showToken(); route(); } else askToken();
});

function showToken() {
  const has = Boolean(token());
  document.getElementById('token-state').textContent = has ? 'Operator token set' : 'Read-only';
  document.getElementById('token-state').dataset.state = has ? 'operator' : 'read-only';
  document.getElementById('token-button').textContent = has ? 'Forget token' : 'Enter operator token';
}

async function route() {
  for (const fn of cleanups) { try { fn(); } catch { /* already gone */ } }
  cleanups = [];
  generation += 1;
  liveState.textContent = '';
  const hash = location.hash.replace(/^#/, '') || '/sources';
  const [path, query] = hash.split('?');
  const params = new URLSearchParams(query || '');
  const parts = path.split('/').filter(Boolean);
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (link.dataset.nav === (parts[0] || 'sources')) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  try {
    if (parts[0] === 'runs' && parts[1]) await runPage(parts[1]);
    else if (parts[0] === 'runs') await runsPage(params);
    else if (parts[0] === 'run-now') await runNowPage(params);
    else if (parts[0] === 'webhooks') await webhooksPage(params);
    else await sourcesPage();
    document.title = `crisisgraph · ${view.querySelector('h1') ? view.querySelector('h1').textContent : 'console'}`;
  } catch (e) {
    fill(view, h('h1', {}, 'Something went wrong'), failure(e));
  }
}

window.addEventListener('hashchange', () => { route().then(() => view.focus({ preventScroll: true })); });
showToken();
route();
