// Operations (supervisors): open cases per partner as a bar chart (with the numbers as a table),
// the inbound message log with cursor paging, and dead deliveries with Redrive / Redrive all.

import { request, isAbort } from '../api.js';
import { h, announce } from '../dom.js';
import { clockTime, describe, formatInstant, list } from '../format.js';
import { caseLink, errorBox, hasRole, loading, section, table, tableWrap, wideRow } from '../ui.js';

const GOOD_OUTCOMES = ['200', '201', 'AA', 'CA'];

export async function render(view, ctx) {
  ctx.setTitle('Operations');
  view.append(h('h1', { tabindex: '-1' }, 'Operations'));
  if (!hasRole(ctx.me, 'supervisor')) {
    view.append(h('p', { class: 'message' }, 'Operations is for supervisors. ', h('a', { href: '/console/' }, 'Go to the worklist')));
    return;
  }
  const refresh = h('button', { type: 'button', id: 'operations-refresh' }, 'Refresh');
  const updated = h('span', { class: 'updated', id: 'operations-updated' });
  const chart = partnerChart(ctx.signal);
  const messages = messageLog(ctx.signal);
  const dead = deadDeliveries(ctx.signal);
  view.append(h('div', { class: 'toolbar' }, refresh, updated), chart.section, dead.section, messages.section);

  const loadAll = async (say) => {
    await Promise.all([chart.load(), messages.load(), dead.load()]);
    if (ctx.signal.aborted) return;
    updated.textContent = `Updated ${clockTime()}`;
    if (say) announce('Operations updated.');
  };
  refresh.addEventListener('click', () => loadAll(true));
  await loadAll(false);
}

/** Runs `read`, showing its error in `slot` (with a retry) instead of throwing. */
async function guarded(slot, signal, read, retry) {
  try {
    await read();
    return true;
  } catch (error) {
    if (!isAbort(error) && !signal.aborted) slot.replaceChildren(errorBox(error, { retry }));
    return false;
  }
}

function partnerChart(signal) {
  const body = h('div', {}, loading());
  const figure = h('figure', { id: 'partner-chart', class: 'chart', 'aria-labelledby': 'partner-chart-caption' });
  const caption = h('figcaption', { id: 'partner-chart-caption' }, 'Open cases by partner');
  figure.append(caption, body);

  async function load() {
    await guarded(body, signal, async () => {
      const report = await request('/reports/open-cases', { signal });
      const rows = list(report?.rows).map((r) => ({
        partner: describe(r?.partner), open: Math.max(0, Number(r?.open) || 0),
        soon: Math.max(0, Number(r?.due_soon) || 0), overdue: Math.max(0, Number(r?.overdue) || 0),
      }));
      const hours = Number(report?.due_soon_hours) || 24;
      caption.textContent = `Open cases by partner${report?.at ? `, ${formatInstant(report.at)}` : ''} (due soon: within ${hours} h)`;
      if (!rows.length) {
        body.replaceChildren(h('p', { class: 'empty' }, 'No open cases.'));
        return;
      }
      const most = Math.max(1, ...rows.map((r) => Math.max(r.open, r.soon + r.overdue)));
      const legend = h('ul', { class: 'legend', 'aria-hidden': 'true' },
        h('li', {}, h('span', { class: 'swatch bar-overdue' }), 'Overdue'),
        h('li', {}, h('span', { class: 'swatch bar-soon' }), 'Due soon'),
        h('li', {}, h('span', { class: 'swatch bar-rest' }), 'Other open'));
      // the bars are drawn for the eye; the same numbers follow as a table for screen readers
      const bars = h('div', { class: 'bars', 'aria-hidden': 'true' }, rows.map((r) => {
        const segment = (cls, n) => {
          const el = h('span', { class: `bar ${cls}` });
          el.style.width = `${(100 * n) / most}%`;
          return el;
        };
        return h('div', { class: 'bar-row', 'data-partner': r.partner },
          h('span', { class: 'bar-label' }, r.partner),
          h('span', { class: 'bar-track' }, segment('bar-overdue', r.overdue), segment('bar-soon', r.soon),
            segment('bar-rest', Math.max(0, r.open - r.soon - r.overdue))),
          h('span', { class: 'bar-numbers' }, `${r.open} open · ${r.soon} due soon · ${r.overdue} overdue`));
      }));
      const { el, body: tbody } = table({ id: 'partner-counts', caption: 'Open cases by partner', columns: ['Partner', 'Open', 'Due soon', 'Overdue'], captionHidden: true });
      el.classList.add('visually-hidden');
      for (const r of rows) {
        tbody.append(h('tr', {}, h('th', { scope: 'row' }, r.partner), h('td', {}, String(r.open)), h('td', {}, String(r.soon)), h('td', {}, String(r.overdue))));
      }
      body.replaceChildren(legend, bars, el);
    }, load);
  }
  return { section: section('open-cases', 'Open cases by partner', figure), load };
}

function messageLog(signal) {
  const columns = ['Time', 'Partner', 'Door', 'Type', 'Control ID', 'Outcome', 'Case'];
  const { el, body } = table({ id: 'messages', caption: 'Inbound messages, newest first', columns });
  const problems = h('div');
  const cursors = [null];
  let next = null;
  const prev = h('button', { type: 'button', id: 'messages-prev', disabled: true }, 'Previous');
  const nextButton = h('button', { type: 'button', id: 'messages-next', disabled: true }, 'Next');
  const pageLabel = h('span', { class: 'page-label' }, 'Page 1');
  prev.addEventListener('click', () => { if (cursors.length > 1) { cursors.pop(); load(true); } });
  nextButton.addEventListener('click', () => { if (next) { cursors.push(next); load(true); } });

  async function load(say = false) {
    const ok = await guarded(problems, signal, async () => {
      const answer = await request('/messages', { query: { limit: 50, cursor: cursors.at(-1) }, signal });
      const messages = list(answer?.messages);
      next = typeof answer?.next === 'string' && answer.next ? answer.next : null;
      body.replaceChildren(...(messages.length ? messages.map((m) => {
        const outcome = describe(m?.outcome);
        return h('tr', {},
          h('td', {}, h('time', { datetime: describe(m?.at) }, formatInstant(m?.at))),
          h('td', {}, describe(m?.partner)),
          h('td', {}, describe(m?.door)),
          h('td', {}, describe(m?.type)),
          h('td', {}, describe(m?.control_id)),
          h('td', {}, h('span', { class: GOOD_OUTCOMES.includes(outcome) ? 'outcome ok' : 'outcome bad' }, outcome)),
          h('td', {}, m?.case_id ? caseLink(m.case_id) : ''));
      }) : [wideRow(columns.length, 'No inbound messages.')]));
      problems.replaceChildren();
    }, () => load(true));
    if (!ok) return;
    pageLabel.textContent = `Page ${cursors.length}`;
    prev.disabled = cursors.length === 1;
    nextButton.disabled = next === null;
    if (say) announce(`Message log page ${cursors.length}.`);
  }
  return {
    section: section('inbound-messages', 'Inbound messages', problems, tableWrap(el, 'Inbound messages'),
      h('nav', { class: 'pager', 'aria-label': 'Message log pages' }, prev, pageLabel, nextButton)),
    load,
  };
}

function deadDeliveries(signal) {
  const columns = ['Case', 'Case version', 'Target', 'Notice', 'Tries', 'Last attempt', 'Redrive'];
  const { el, body } = table({ id: 'dead-deliveries', caption: 'Dead deliveries', columns, captionHidden: true });
  const problems = h('div');
  const all = h('button', { type: 'button', id: 'redrive-all', disabled: true }, 'Redrive all');
  all.addEventListener('click', () => redrive({}, all));

  async function redrive(body, button) {
    button.disabled = true;
    const ok = await guarded(problems, signal, async () => {
      const answer = await request('/deliveries/redrive', { method: 'POST', body, signal });
      const moved = list(answer?.deliveries).length;
      problems.replaceChildren();
      announce(`${moved} deliver${moved === 1 ? 'y' : 'ies'} owed again.`);
      await load();
    }, () => redrive(body, button));
    if (!ok && button.isConnected) button.disabled = false;
    // the row's button is gone (or Redrive all now disabled): keep focus in the section
    if (ok && (!button.isConnected || button.disabled)) wrap.focus();
  }

  async function load() {
    await guarded(problems, signal, async () => {
      const answer = await request('/deliveries', { query: { state: 'dead' }, signal });
      const records = list(answer?.deliveries);
      body.replaceChildren(...(records.length ? records.map((r, n) => {
        const caseId = describe(r?.case_id);
        const cellId = `dead-case-${n}`;
        const last = list(r?.attempts).at(-1);
        const button = h('button', { type: 'button', class: 'redrive', 'data-case-id': caseId, 'aria-describedby': cellId }, 'Redrive');
        button.addEventListener('click', () => redrive({ case_id: caseId }, button));
        return h('tr', { 'data-case-id': caseId },
          h('th', { scope: 'row', id: cellId }, caseLink(caseId)),
          h('td', {}, describe(r?.case_version)),
          h('td', {}, describe(r?.target)),
          h('td', {}, describe(r?.notice)),
          h('td', {}, describe(r?.tries)),
          h('td', {}, last ? [formatInstant(last.at), last.code !== undefined && last.code !== null ? `code ${describe(last.code)}` : '',
            describe(last.error)].filter(Boolean).join(' · ') : ''),
          h('td', {}, button));
      }) : [wideRow(columns.length, 'No dead deliveries.')]));
      all.disabled = records.length === 0;
    }, load);
  }
  const wrap = tableWrap(el, 'Dead deliveries');
  return {
    section: section('dead', 'Dead deliveries', h('div', { class: 'toolbar' }, all), problems, wrap),
    load,
  };
}
