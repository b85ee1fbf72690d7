// View pieces every page uses: sections, error boxes, definition lists, scrollable tables, case links.

import { h } from './dom.js';
import { describe } from './format.js';

/** <section id aria-labelledby> with its h2. */
export function section(id, title, ...children) {
  return h('section', { id, class: 'panel', 'aria-labelledby': `${id}-heading` },
    h('h2', { id: `${id}-heading` }, title), children);
}

const TITLES = {
  0: 'Connection problem', 401: 'Signed out', 403: 'Not allowed', 404: 'Not found',
  409: 'Conflict', 413: 'Too large', 422: 'Not accepted',
};

export function errorTitle(error) {
  const status = error?.status;
  if (status in TITLES) return TITLES[status];
  return status >= 500 ? 'Server error' : 'Something went wrong';
}

/** A visible, announced error. `retry`: a function offered as a "Try again" button. */
export function errorBox(error, { retry } = {}) {
  const detail = error?.diagnostics || error?.message || 'Unexpected error.';
  return h('div', { class: 'message error', role: 'alert' },
    h('p', {}, h('strong', {}, `${errorTitle(error)}: `), detail),
    retry ? h('button', { type: 'button', onclick: retry }, 'Try again') : null);
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading' }, text);
}

export function empty(text) {
  return h('p', { class: 'empty' }, text);
}

/** <dl> of [term, value] pairs; a value may be a Node, an array of Nodes or any server value. Empty ones left out. */
export function definitionList(pairs, attrs = {}) {
  const dl = h('dl', { class: 'facts', ...attrs });
  for (const [term, value] of pairs) {
    const shown = value instanceof Node || (Array.isArray(value) && value.some((v) => v instanceof Node)) ? value : describe(value);
    if (shown === '' || (Array.isArray(shown) && !shown.length)) continue;
    dl.append(h('div', {}, h('dt', {}, term), h('dd', {}, shown)));
  }
  return dl;
}

/** A table that scrolls sideways at narrow widths, reachable and named for keyboard users. */
export function tableWrap(table, label) {
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': label }, table);
}

/** <table> with column headers; rows are arrays of <tr>. */
export function table({ id, caption, columns, captionHidden = false }) {
  const body = h('tbody');
  const el = h('table', { id },
    h('caption', { class: captionHidden ? 'visually-hidden' : null }, caption),
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
    body);
  return { el, body };
}

/** A row spanning every column, e.g. "nothing here". */
export function wideRow(columns, text) {
  return h('tr', { class: 'empty-row' }, h('td', { colspan: String(columns) }, text));
}

export function caseHref(id) {
  return `/console/cases/${encodeURIComponent(String(id))}`;
}

export function caseLink(id) {
  return h('a', { href: caseHref(id) }, String(id));
}

/** Only http(s) URLs are opened or linked (a document's URL is the sender's). */
export function isWebUrl(value) {
  try {
    const url = new URL(String(value));
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}

export function hasRole(me, role) {
  return Array.isArray(me?.roles) && me.roles.includes(role);
}
