// The worklist: open cases soonest due first, filters kept in the URL, cursor paging, time left
// counting down every second (not in a live region), and a refresh every 30 s.

import { request, isAbort } from '../api.js';
import { h, announce } from '../dom.js';
import { field, select } from '../forms.js';
import { clockTime, dueState, DUE_TEXT, formatInstant, parseInstant, timeLeft, list } from '../format.js';
import { caseLink, errorBox, table, tableWrap, wideRow } from '../ui.js';

const STATUSES = ['received', 'assigned', 'in-review', 'information-requested'];
const KINDS = ['prior-auth', 'predetermination', 'claim', 'appeal'];
const PRIORITIES = ['expedited', 'standard'];
const COLUMNS = ['Case', 'Partner', 'Kind', 'Priority', 'Status', 'Assignee', 'Due', 'Received'];
const PAGE_SIZE = 50;
const REFRESH_MS = 30_000;

/** The filters as the URL keeps them: ?status=&kind=&priority=&mine=true&partner=&overdue=true */
function readFilters(query) {
  const pick = (name, allowed) => (allowed.includes(query.get(name)) ? query.get(name) : '');
  return {
    status: pick('status', STATUSES),
    kind: pick('kind', KINDS),
    priority: pick('priority', PRIORITIES),
    mine: query.get('mine') === 'true',
    partner: (query.get('partner') || '').trim(),
    overdue: query.get('overdue') === 'true',
  };
}

function filtersQuery(filters) {
  const q = new URLSearchParams();
  for (const name of ['status', 'kind', 'priority', 'partner']) if (filters[name]) q.set(name, filters[name]);
  if (filters.mine) q.set('mine', 'true');
  if (filters.overdue) q.set('overdue', 'true');
  return q.toString();
}

function choices(values, allLabel) {
  return [['', allLabel], ...values.map((v) => [v, v])];
}

export async function render(view, ctx) {
  ctx.setTitle('Worklist');
  let filters = readFilters(ctx.query);
  const paging = { cursors: [null], next: null };
  let dueSoonHours = 24;
  let rows = [];      // [{row, countdown, badge, due}] for the ticker
  let loads = 0;      // the latest load wins

  // --- filters ---
  const form = h('form', { id: 'worklist-filters', class: 'filters', 'aria-label': 'Filter the worklist', novalidate: true },
    field('Status', select({ name: 'status' }, choices(STATUSES, 'Any status'), filters.status)),
    field('Kind', select({ name: 'kind' }, choices(KINDS, 'Any kind'), filters.kind)),
    field('Priority', select({ name: 'priority' }, choices(PRIORITIES, 'Any priority'), filters.priority)),
    field('Partner', h('input', { name: 'partner', type: 'text', value: filters.partner, autocomplete: 'off' })),
    field('Mine', h('input', { name: 'mine', type: 'checkbox', checked: filters.mine }), { className: 'check' }),
    field('Overdue', h('input', { name: 'overdue', type: 'checkbox', checked: filters.overdue }), { className: 'check' }),
    h('div', { class: 'field actions' }, h('button', { type: 'submit' }, 'Apply'), h('a', { href: '/console/' }, 'Clear filters')));
  const apply = (event) => {
    event.preventDefault();
    const f = form.elements;
    const chosen = {
      status: f.status.value, kind: f.kind.value, priority: f.priority.value,
      mine: f.mine.checked, partner: f.partner.value.trim(), overdue: f.overdue.checked,
    };
    const qs = filtersQuery(chosen);
    // Enter in the partner box fires change then submit: one load is enough
    if (event.type === 'change' && qs === filtersQuery(filters)) return;
    filters = chosen;
    window.history.replaceState(null, '', `/console/${qs ? `?${qs}` : ''}`);
    paging.cursors = [null];
    load({ say: true });
  };
  form.addEventListener('submit', apply);
  form.addEventListener('change', apply);

  // --- toolbar, table, pager ---
  const updated = h('span', { id: 'worklist-updated', class: 'updated' }, '');
  const refresh = h('button', { type: 'button', id: 'worklist-refresh' }, 'Refresh');
  refresh.addEventListener('click', () => load({ say: true }));
  const problems = h('div', { id: 'worklist-error' });
  const { el: tableEl, body } = table({ id: 'worklist', caption: 'Open cases, soonest due first', columns: COLUMNS });
  const wrap = tableWrap(tableEl, 'Worklist cases');
  const prev = h('button', { type: 'button', id: 'worklist-prev', disabled: true }, 'Previous');
  const next = h('button', { type: 'button', id: 'worklist-next', disabled: true }, 'Next');
  const pageLabel = h('span', { id: 'worklist-page', class: 'page-label' }, 'Page 1');
  prev.addEventListener('click', () => {
    if (paging.cursors.length > 1) { paging.cursors.pop(); load({ say: true }); }
  });
  next.addEventListener('click', () => {
    if (paging.next) { paging.cursors.push(paging.next); load({ say: true }); }
  });

  view.append(
    h('h1', { tabindex: '-1' }, 'Worklist'),
    form,
    h('div', { class: 'toolbar' }, refresh, updated),
    problems,
    wrap,
    h('nav', { class: 'pager', 'aria-label': 'Worklist pages' }, prev, pageLabel, next),
  );

  function tick() {
    const now = Date.now();
    for (const r of rows) {
      r.countdown.textContent = timeLeft(r.due, now);
      const state = dueState(r.due, now, dueSoonHours);
      if (r.state !== state) {
        r.state = state;
        r.row.classList.remove('overdue', 'due-soon');
        if (state) r.row.classList.add(state);
        r.badge.textContent = DUE_TEXT[state] ?? '';
      }
    }
  }

  function caseRow(c, now) {
    const due = parseInstant(c?.due_at);
    const state = dueState(due, now, dueSoonHours);
    const badge = h('span', { class: 'badge' }, DUE_TEXT[state] ?? '');
    const countdown = h('span', { class: 'countdown' }, due === null ? '' : timeLeft(due, now));
    const row = h('tr', { 'data-case-id': String(c?.id ?? ''), 'data-status': String(c?.status ?? ''), class: state || null },
      h('th', { scope: 'row' }, caseLink(c?.id ?? '')),
      h('td', {}, String(c?.partner ?? '')),
      h('td', {}, String(c?.kind ?? '')),
      h('td', {}, String(c?.priority ?? '')),
      h('td', {}, String(c?.status ?? '')),
      h('td', {}, c?.assignee ? String(c.assignee) : h('span', { class: 'muted' }, 'Unassigned')),
      h('td', { class: 'due' }, h('time', { datetime: String(c?.due_at ?? '') }, formatInstant(c?.due_at)), ' ', badge, h('br'), countdown),
      h('td', {}, h('time', { datetime: String(c?.received_at ?? '') }, formatInstant(c?.received_at))));
    if (due !== null) rows.push({ row, countdown, badge, due, state });
    return row;
  }

  async function load({ say = false, quiet = false } = {}) {
    const query = {
      status: filters.status, kind: filters.kind, priority: filters.priority, partner: filters.partner,
      assignee: filters.mine ? ctx.me?.id : '', overdue: filters.overdue ? 'true' : '',
      limit: PAGE_SIZE, cursor: paging.cursors.at(-1),
    };
    const mark = ++loads;
    const focusWasOnPager = document.activeElement === prev || document.activeElement === next;
    tableEl.setAttribute('aria-busy', 'true');
    let answer;
    try {
      answer = await request('/cases', { query, signal: ctx.signal });
    } catch (error) {
      if (isAbort(error) || ctx.signal.aborted || mark !== loads) return;
      tableEl.removeAttribute('aria-busy');
      const text = error.diagnostics;
      // an auto refresh failing again with the same words leaves the message (and screen readers) alone
      if (!(quiet && problems.textContent.includes(text))) problems.replaceChildren(errorBox(error, { retry: () => load({ say: true }) }));
      return;
    }
    if (ctx.signal.aborted || mark !== loads) return;
    tableEl.removeAttribute('aria-busy');
    problems.replaceChildren();
    dueSoonHours = Number(answer?.due_soon_hours) > 0 ? Number(answer.due_soon_hours) : 24;
    paging.next = typeof answer?.next === 'string' && answer.next ? answer.next : null;
    const cases = list(answer?.cases);
    const now = Date.now();
    rows = [];
    body.replaceChildren(...(cases.length ? cases.map((c) => caseRow(c, now))
      : [wideRow(COLUMNS.length, 'No open cases match these filters.')]));
    updated.textContent = `Updated ${clockTime(new Date(now))}`;
    const pageNumber = paging.cursors.length;
    pageLabel.textContent = `Page ${pageNumber}`;
    prev.disabled = pageNumber === 1;
    next.disabled = paging.next === null;
    // a pager button that has just been disabled would drop focus to the page
    const active = document.activeElement;
    if (focusWasOnPager && (active === document.body || active?.disabled)) (next.disabled ? (prev.disabled ? wrap : prev) : next).focus();
    if (say) announce(`Worklist updated: page ${pageNumber}, ${cases.length} case${cases.length === 1 ? '' : 's'}.`);
    performance.mark('worklist-ready');  // the page's own clock for bench figure 12 (bench/console_side.py)
  }

  const ticker = setInterval(tick, 1000);
  const refresher = setInterval(() => { if (!document.hidden) load({ quiet: true }); }, REFRESH_MS);
  ctx.signal.addEventListener('abort', () => { clearInterval(ticker); clearInterval(refresher); });
  await load();
}
