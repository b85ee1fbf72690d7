// One case: summary, member (masked until "Show member"), providers, items, information requests,
// documents, actions, ClaimResponse, delivery state per target and the timeline.

import { request, isAbort } from '../api.js';
import { h, announce } from '../dom.js';
import { describe, dueState, DUE_TEXT, formatInstant, list, parseInstant, timeLeft } from '../format.js';
import {
  caseLink, definitionList, empty, errorBox, isWebUrl, loading, section, table, tableWrap, wideRow,
} from '../ui.js';
import { actionsSection } from './case-actions.js';
import { claimResponseSection } from './claimresponse.js';

const OPEN = ['received', 'assigned', 'in-review', 'information-requested'];

export async function render(view, ctx) {
  const id = ctx.params[0];
  ctx.setTitle(`Case ${id}`);
  const heading = h('h1', { tabindex: '-1' }, `Case ${id}`);
  const content = h('div', { class: 'case' }, loading('Loading the case…'));
  view.append(heading, content);

  const page = {
    id,
    me: ctx.me,
    signal: ctx.signal,
    /** Re-read the case and redraw it (after an action, or the stale message's Reload). */
    async reload({ focus = false, message = '' } = {}) {
      let doc;
      try {
        doc = await request(`/cases/${encodeURIComponent(id)}`, { query: { member: 'masked' }, signal: ctx.signal });
      } catch (error) {
        if (isAbort(error) || ctx.signal.aborted) return;
        content.replaceChildren(errorBox(error, { retry: () => page.reload({ focus: true }) }));
        if (focus) heading.focus();
        return;
      }
      if (ctx.signal.aborted) return;
      const c = doc?.case && typeof doc.case === 'object' ? doc.case : {};
      content.replaceChildren(
        summarySection(c, doc?.links),
        memberSection(page, c.member),
        providersSection(c),
        itemsSection(c),
        informationSection(c),
        documentsSection(page, c),
        actionsSection(page, c),
        claimResponseSection(id, ctx.signal),
        deliveriesSection(doc?.deliveries),
        timelineSection(doc?.history),
      );
      if (focus) heading.focus();
      if (message) announce(message);
    },
  };
  await page.reload();
}

function summarySection(c, links) {
  const due = parseInstant(c.due_at);
  const open = OPEN.includes(c.status);
  const state = open ? dueState(due, Date.now(), 24) : '';
  const dueText = [
    h('time', { datetime: describe(c.due_at) }, formatInstant(c.due_at)),
    open && due !== null ? ` (${timeLeft(due)})` : '',
    state ? h('span', { class: `badge ${state}` }, DUE_TEXT[state]) : null,
  ];
  const original = links?.original ?? c.original_case_id;
  const appeals = list(links?.appeals);
  return section('summary', 'Summary', definitionList([
    ['Status', h('span', { id: 'case-status', class: 'status' }, describe(c.status))],
    ['Kind', c.kind],
    ['Priority', c.priority],
    ['Partner', c.partner_id],
    ['Line of business', c.line_of_business],
    ['Assignee', c.assignee || 'Unassigned'],
    ['Received', c.received_at ? formatInstant(c.received_at) : ''],
    ['Due', c.due_at ? dueText : ''],
    ['Decided', c.decided_at ? formatInstant(c.decided_at) : ''],
    ['Version', c.version],
    ['Claim identifiers', list(c.claim_ids)],
    ['Original case', original ? caseLink(original) : ''],
    ['Transaction identifier reused', c.transaction_id_reused_from
      ? ['first used by ', caseLink(c.transaction_id_reused_from)] : ''],
    ['Appeals', appeals.length ? h('ul', { class: 'inline' }, appeals.map((a) => h('li', {}, caseLink(a)))) : ''],
    ['Diagnoses', list(c.diagnoses).length
      ? h('ul', {}, list(c.diagnoses).map((d) => h('li', {}, describe(d)))) : ''],
    ['Extensions', list(c.extensions).length ? h('ul', {}, list(c.extensions).map((e) => h('li', {},
      `${describe(e?.days)} days: ${describe(e?.reason)} (by ${describe(e?.by)}, ${formatInstant(e?.at)}; `
      + `was due ${formatInstant(e?.previous_due_at)})`))) : ''],
  ]));
}

function memberFacts(m) {
  const member = m && typeof m === 'object' ? m : {};
  const given = Array.isArray(member.given) ? member.given.map(describe).join(' ') : describe(member.given);
  return definitionList([
    ['Name', [given, describe(member.family)].filter(Boolean).join(' ')],
    ['Birth date', member.birth_date],
    ['Gender', member.gender],
    ['Subscriber ID', member.subscriber_id],
    ['Identifiers', list(member.identifiers).length
      ? h('ul', {}, list(member.identifiers).map((i) => h('li', {}, describe(i)))) : ''],
    ['Coverage', member.coverage_ids],
    ['Payor', member.payor],
  ], { id: 'member-facts' });
}

function memberSection(page, masked) {
  const details = h('div', { id: 'member-details' }, memberFacts(masked));
  const problems = h('div');
  const button = h('button', { type: 'button', id: 'member-show', 'aria-controls': 'member-details' }, 'Show member');
  let revealed = false;
  button.addEventListener('click', async () => {
    if (revealed) {
      details.replaceChildren(memberFacts(masked));
      revealed = false;
      button.textContent = 'Show member';
      announce('Member details hidden.');
      return;
    }
    button.disabled = true;
    try {
      const answer = await request(`/cases/${encodeURIComponent(page.id)}/member`, { signal: page.signal });
      details.replaceChildren(memberFacts(answer?.member));
      revealed = true;
      button.textContent = 'Hide member';
      problems.replaceChildren();
      announce('Member details shown.');
    } catch (error) {
      if (!isAbort(error)) problems.replaceChildren(errorBox(error));
    } finally {
      button.disabled = false;
    }
  });
  return section('member', 'Member',
    h('p', { class: 'hint' }, 'Masked until you choose to see it; showing it is recorded in the audit log.'),
    h('div', { class: 'toolbar' }, button), problems, details);
}

function providersSection(c) {
  const providers = list(c.providers);
  if (!providers.length) return section('providers', 'Providers', empty('No providers on this case.'));
  const columns = ['Role', 'Name', 'NPI', 'Reference'];
  const { el, body } = table({ id: 'providers-table', caption: 'Providers', columns, captionHidden: true });
  for (const p of providers) {
    body.append(h('tr', {}, h('th', { scope: 'row' }, describe(p?.role)), h('td', {}, describe(p?.name)),
      h('td', {}, describe(p?.npi)), h('td', {}, describe(p?.reference))));
  }
  return section('providers', 'Providers', tableWrap(el, 'Providers'));
}

function determinationText(item) {
  if (item?.cancelled) return h('span', { class: 'muted' }, 'Cancelled');
  const d = item?.determination;
  if (!d || typeof d !== 'object') return h('span', { class: 'muted' }, 'Not decided');
  const reviewer = d.reviewer ? `${describe(d.reviewer.id)}${d.reviewer.role ? ` (${describe(d.reviewer.role)})` : ''}` : '';
  const lines = [
    d.reason_code || d.reason_text ? `Reason: ${[d.reason_code, d.reason_text].filter(Boolean).map(describe).join(' — ')}` : '',
    d.authorization_number ? `Authorization: ${describe(d.authorization_number)}` : '',
    d.authorized_quantity !== undefined && d.authorized_quantity !== null ? `Authorized quantity: ${describe(d.authorized_quantity)}` : '',
    d.authorized_period ? `Authorized period: ${describe(d.authorized_period)}` : '',
    d.authorized_service ? `Authorized service: ${describe(d.authorized_service)}` : '',
    reviewer || d.decided_at ? `By ${reviewer || 'unknown'}${d.decided_at ? `, ${formatInstant(d.decided_at)}` : ''}` : '',
  ].filter(Boolean);
  return [h('strong', { class: 'decision' }, describe(d.decision)), lines.map((line) => [h('br'), line])];
}

function itemsSection(c) {
  const items = list(c.items);
  const columns = ['Item', 'Service', 'Modifiers', 'Quantity', 'Serviced', 'Category', 'Determination'];
  const { el, body } = table({ id: 'items-table', caption: 'Requested items', columns, captionHidden: true });
  for (const item of items) {
    body.append(h('tr', { 'data-item-sequence': describe(item?.sequence), class: item?.cancelled ? 'cancelled' : null },
      h('th', { scope: 'row' }, describe(item?.sequence)),
      h('td', {}, describe(item?.service)),
      h('td', {}, describe(item?.modifiers)),
      h('td', {}, describe(item?.quantity)),
      h('td', {}, item?.serviced ? describe(item.serviced) : ''),
      h('td', {}, describe(item?.category)),
      h('td', {}, determinationText(item))));
  }
  if (!items.length) body.append(wideRow(columns.length, 'No items.'));
  return section('items', 'Items', tableWrap(el, 'Requested items'));
}

function informationSection(c) {
  const requests = list(c.information_requests);
  if (!requests.length) return section('information-requests', 'Information requests', empty('No information requested.'));
  return section('information-requests', 'Information requests', h('ul', { class: 'records' }, requests.map((r) => h('li', {},
    h('p', {}, `Requested ${formatInstant(r?.requested_at)} by ${describe(r?.requested_by) || 'unknown'}; due by ${describe(r?.due_by)}. `,
      r?.answered_at ? `Answered ${formatInstant(r.answered_at)}.` : h('strong', {}, 'Not answered yet.')),
    h('ul', {}, list(r?.items).map((i) => h('li', {},
      [i?.code?.code ? `${describe(i.code.code)}: ` : '', describe(i?.text)].join(''))))))));
}

function size(bytes) {
  const n = Number(bytes);
  if (!Number.isFinite(n) || n < 0) return '';
  return n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1048576).toFixed(1)} MB`;
}

function documentsSection(page, c) {
  const documents = list(c.documents);
  if (!documents.length) return section('documents', 'Documents', empty('No documents received.'));
  return section('documents', 'Documents', h('ul', { class: 'records' }, documents.map((doc, n) => {
    const title = describe(doc?.title) || `Document ${n + 1}`;
    const slot = h('div', { class: 'document-link' });
    const button = h('button', { type: 'button', 'data-document': String(n) }, `Open ${title}`);
    button.addEventListener('click', () => openDocument(page, n, title, button, slot));
    const facts = [describe(doc?.content_type), size(doc?.size), doc?.received_at ? `received ${formatInstant(doc.received_at)}` : '',
      doc?.via ? `via ${describe(doc.via)}` : ''].filter(Boolean).join(' · ');
    return h('li', {}, button, facts ? h('span', { class: 'hint' }, ` ${facts}`) : null, slot);
  })));
}

/** Ask for a short-lived link, then open it in a new tab (only an http(s) one); a link stays as a fallback. */
async function openDocument(page, n, title, button, slot) {
  button.disabled = true;
  slot.replaceChildren();
  try {
    const answer = await request(`/cases/${encodeURIComponent(page.id)}/documents/${n}`, { signal: page.signal });
    const url = answer?.url;
    if (!isWebUrl(url)) {
      slot.replaceChildren(h('p', { class: 'message error', role: 'alert' }, 'This document’s address is not a web (http or https) link, so it was not opened.'));
      return;
    }
    window.open(url, '_blank', 'noopener,noreferrer');
    const expires = Number(answer?.expires_in) > 0 ? ` (the link works for ${Number(answer.expires_in)} s)` : '';
    slot.replaceChildren(h('p', {}, 'Opened in a new tab. If it did not open: ',
      h('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, `open ${title}`), expires));
    announce(`${title} opened in a new tab.`);
  } catch (error) {
    if (!isAbort(error)) slot.replaceChildren(errorBox(error));
  } finally {
    button.disabled = false;
  }
}

function deliveriesSection(records) {
  // the latest record per target: newest change (case_version), then newest created_at
  const latest = new Map();
  for (const r of list(records)) {
    const target = describe(r?.target);
    const seen = latest.get(target);
    const newer = !seen || Number(r?.case_version) > Number(seen.case_version)
      || (Number(r?.case_version) === Number(seen.case_version) && String(r?.created_at) > String(seen.created_at));
    if (newer) latest.set(target, r);
  }
  if (!latest.size) return section('deliveries', 'Delivery state per target', empty('Nothing delivered for this case yet.'));
  const columns = ['Target', 'State', 'Notice', 'Case version', 'Tries', 'Last attempt', 'Next try'];
  const { el, body } = table({ id: 'deliveries-table', caption: 'Delivery state per target', columns, captionHidden: true });
  for (const [target, r] of latest) {
    const last = list(r?.attempts).at(-1);
    const attempt = last ? [formatInstant(last.at), last.code !== undefined && last.code !== null ? `code ${describe(last.code)}` : '',
      last.latency_ms !== undefined && last.latency_ms !== null ? `${describe(last.latency_ms)} ms` : '', describe(last.error)]
      .filter(Boolean).join(' · ') : 'None yet';
    body.append(h('tr', { 'data-target': target, 'data-state': describe(r?.state) },
      h('th', { scope: 'row' }, target),
      h('td', {}, h('span', { class: `state state-${describe(r?.state).replace(/[^a-z-]/g, '')}` }, describe(r?.state))),
      h('td', {}, describe(r?.notice)),
      h('td', {}, describe(r?.case_version)),
      h('td', {}, describe(r?.tries)),
      h('td', {}, attempt),
      h('td', {}, last?.next_at ? formatInstant(last.next_at) : '')));
  }
  return section('deliveries', 'Delivery state per target', tableWrap(el, 'Delivery state per target'));
}

function timelineSection(history) {
  const events = list(history);
  if (!events.length) return section('timeline', 'Timeline', empty('No events yet.'));
  return section('timeline', 'Timeline', h('ol', { class: 'timeline' }, events.map((e) => {
    const actor = e?.actor ? `${describe(e.actor.id)}${e.actor.role ? ` (${describe(e.actor.role)})` : ''}` : '';
    const move = e?.from_status || e?.to_status ? `${describe(e.from_status) || '—'} → ${describe(e.to_status) || '—'}` : '';
    const detail = e?.detail && typeof e.detail === 'object' ? Object.entries(e.detail) : [];
    return h('li', {},
      h('time', { datetime: describe(e?.at) }, formatInstant(e?.at)), ' ',
      h('strong', {}, describe(e?.type)),
      actor ? ` by ${actor}` : '', move ? ` · ${move}` : '',
      e?.reason ? h('p', { class: 'reason' }, `Reason: ${describe(e.reason)}`) : null,
      detail.length ? h('p', { class: 'hint' }, detail.map(([k, v]) => `${k}: ${describe(v)}`).join('; ')) : null);
  })));
}
