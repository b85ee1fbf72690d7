// The case's ClaimResponse, readable (outcome, disposition, preAuthRef, each item's X12 review action
// code) with a "Raw JSON" toggle. Every value is read defensively: it is untrusted JSON.

import { request, isAbort } from '../api.js';
import { h } from '../dom.js';
import { describe, formatInstant, list } from '../format.js';
import { definitionList, errorBox, loading, section, table, tableWrap, wideRow } from '../ui.js';

// X12 306 (HCR01) review actions, for a response that carries no display
const REVIEW_ACTIONS = {
  A1: 'Certified in total', A2: 'Certified - partial', A3: 'Not certified', A4: 'Pended', A6: 'Modified', C: 'Cancelled',
};

const urlEnds = (suffix) => (ext) => typeof ext?.url === 'string' && ext.url.endsWith(suffix);

/** The review action of one ClaimResponse.item: PAS puts it in an extension on the item's adjudication
 * (or on the item); a non-PAS response in adjudication.reason. */
export function reviewAction(item) {
  const holders = [...list(item?.extension), ...list(item?.adjudication).flatMap((a) => list(a?.extension))];
  const parts = list(holders.find(urlEnds('reviewAction'))?.extension);
  const codePart = parts.find((p) => p?.url === 'code' || urlEnds('reviewActionCode')(p));
  const coding = list(codePart?.valueCodeableConcept?.coding)[0]
    ?? list(list(item?.adjudication).find((a) => a?.reason)?.reason?.coding)[0];
  const code = typeof coding?.code === 'string' ? coding.code : '';
  return {
    code,
    display: typeof coding?.display === 'string' ? coding.display : (REVIEW_ACTIONS[code] ?? ''),
    number: describe(parts.find((p) => p?.url === 'number')?.valueString),
    reason: describe(list(parts.find((p) => p?.url === 'reasonCode')?.valueCodeableConcept?.coding)[0]?.code),
  };
}

function authorizedDetail(item) {
  const detail = list(list(item?.extension).find(urlEnds('itemAuthorizedDetail'))?.extension);
  const quantity = detail.find((p) => p?.url === 'quantity')?.valueQuantity?.value;
  const service = list(detail.find((p) => p?.url === 'productOrServiceCode')?.valueCodeableConcept?.coding)[0];
  const period = list(item?.extension).find(urlEnds('itemPreAuthPeriod'))?.valuePeriod;
  return { quantity: describe(quantity), service: describe(service), period: period ? describe(period) : '' };
}

function readable(cr) {
  const notes = new Map(list(cr?.processNote).map((n) => [n?.number, describe(n?.text)]));
  const reviewer = list(list(cr?.extension).find(urlEnds('claimResponseReviewer'))?.extension);
  const npi = reviewer.find((p) => p?.url === 'reviewerNPI')?.valueIdentifier?.value;
  const facts = definitionList([
    ['Outcome', cr?.outcome],
    ['Disposition', cr?.disposition],
    ['PreAuthRef', cr?.preAuthRef],
    ['Authorization period', cr?.preAuthPeriod],
    ['Created', cr?.created ? formatInstant(cr.created) : ''],
    ['Reviewer NPI', npi],
  ], { id: 'claimresponse-summary' });

  const columns = ['Item', 'Review action', 'Authorization number', 'Reason code', 'Note', 'Authorized'];
  const { el, body } = table({ id: 'claimresponse-items', caption: 'ClaimResponse items', columns });
  const items = list(cr?.item);
  for (const item of items) {
    const action = reviewAction(item);
    const granted = authorizedDetail(item);
    body.append(h('tr', { 'data-item-sequence': describe(item?.itemSequence) },
      h('th', { scope: 'row' }, describe(item?.itemSequence)),
      h('td', {}, h('strong', { class: 'review-action' }, action.code || '—'), action.display ? ` ${action.display}` : ''),
      h('td', {}, action.number),
      h('td', {}, action.reason),
      h('td', {}, list(item?.noteNumber).map((n) => notes.get(n)).filter(Boolean).join(' ')),
      h('td', {}, [granted.service && `Service ${granted.service}`, granted.quantity && `Quantity ${granted.quantity}`,
        granted.period && `Period ${granted.period}`].filter(Boolean).join('; '))));
  }
  if (!items.length) body.append(wideRow(columns.length, 'The ClaimResponse lists no items.'));
  return [facts, tableWrap(el, 'ClaimResponse items')];
}

/** section#claimresponse; its content is fetched after the case. */
export function claimResponseSection(caseId, signal) {
  const content = h('div', { id: 'claimresponse-readable' }, loading('Loading the ClaimResponse…'));
  const raw = h('pre', { id: 'claimresponse-raw', class: 'raw', hidden: true, tabindex: '0', 'aria-label': 'ClaimResponse as JSON' });
  const toggle = h('button', {
    type: 'button', id: 'claimresponse-raw-toggle', 'aria-expanded': 'false', 'aria-controls': 'claimresponse-raw', disabled: true,
  }, 'Raw JSON');
  toggle.addEventListener('click', () => {
    raw.hidden = !raw.hidden;
    toggle.setAttribute('aria-expanded', String(!raw.hidden));
  });

  async function load() {
    content.replaceChildren(loading('Loading the ClaimResponse…'));
    try {
      const cr = await request(`/cases/${encodeURIComponent(caseId)}/claimresponse`, { signal });
      content.replaceChildren(...readable(cr));
      raw.textContent = JSON.stringify(cr, null, 2);
      toggle.disabled = false;
    } catch (error) {
      if (!isAbort(error)) content.replaceChildren(errorBox(error, { retry: load }));
    }
  }
  load();
  return section('claimresponse', 'ClaimResponse', h('p', { class: 'hint' }, 'What the requester reads now.'),
    content, h('div', { class: 'toolbar' }, toggle), raw);
}
