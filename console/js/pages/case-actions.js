// The case's actions, each offered only in the states (and to the roles) it applies to. Every
// command is POST /cases/{id}/<command> with the case version read; the server judges, and its
// OperationOutcome is shown beside the control it names. A stale version offers a Reload.

import { request, isAbort } from '../api.js';
import { h, announce, uid } from '../dom.js';
import { clearErrors, errorSlot, field, locateField, readBase64, select, showErrors } from '../forms.js';
import { describe, list } from '../format.js';
import { errorBox, hasRole, section } from '../ui.js';

const DECISIONS = [['', 'Choose a decision'], ['approved', 'Approved'], ['denied', 'Denied'],
  ['partial', 'Partially approved'], ['modified', 'Modified']];
const LOINC = 'http://loinc.org';

// GET /reason-codes and GET /reviewers (supervisors): read once per page load, shared by every case
// view (a promise; dropped again if it fails). Not tied to one view's AbortSignal for that reason.
let reasonCodes = null;
let reviewers = null;

export function actionsSection(page, c) {
  const me = page.me || {};
  // As review/lifecycle.py allows: cases are assigned to (physician) reviewers; the assignee starts,
  // decides and asks for information; the assignee or a supervisor extends and asks for information.
  const supervisor = hasRole(me, 'supervisor');
  const reviewer = hasRole(me, 'reviewer') || hasRole(me, 'physician-reviewer');
  const mine = c.assignee === me.id;
  const forms = [];
  switch (c.status) {
    case 'received':
      if (reviewer) forms.push(assignToMe(page, c));
      if (supervisor) forms.push(assignTo(page, c));
      break;
    case 'assigned':
      if (mine) forms.push(start(page, c)); else if (reviewer) forms.push(assignToMe(page, c));
      if (supervisor) forms.push(assignTo(page, c));
      break;
    case 'in-review':
      if (mine && reviewer) forms.push(determination(page, c));
      if (mine || supervisor) forms.push(informationRequest(page, c), extension(page, c));
      break;
    case 'information-requested':
      forms.push(information(page, c), extension(page, c));
      break;
    case 'decided': case 'delivered': case 'closed':
      if (supervisor) forms.push(reopen(page, c));
      break;
    default:
  }
  const stale = h('div', { class: 'stale-slot' });
  page.showStale = () => showStale(page, stale);
  return section('actions', 'Actions',
    h('p', {}, `This case is ${describe(c.status) || 'in an unknown state'}.`),
    stale,
    forms.length ? forms : h('p', { class: 'empty' }, 'No actions are available to you in this state.'));
}

function showStale(page, slot) {
  let box = slot.querySelector('#stale');
  if (!box) {
    const reload = h('button', { type: 'button', id: 'stale-reload', class: 'primary' }, 'Reload');
    reload.addEventListener('click', () => page.reload({ focus: true, message: 'Case reloaded.' }));
    box = h('div', { id: 'stale', class: 'message warning', role: 'alert' },
      h('p', {}, 'This case changed since you opened it. Reload it to see the changes, then try again.'), reload);
    slot.append(box);
  }
  box.querySelector('#stale-reload').focus();
}

/** A form for one command: h3, error slot, fields, submit. `build()` gives the body; `locate` maps errors. */
function commandForm(page, c, { id, title, command, submit, fields = [], build = () => ({}), success, locate, intro }) {
  const headingId = uid('action');
  const button = h('button', { type: 'submit', class: 'primary' }, submit);
  const form = h('form', { id, class: 'action', 'aria-labelledby': headingId, novalidate: true, 'data-command': command },
    h('h3', { id: headingId }, title), intro ? h('p', { class: 'hint' }, intro) : null, errorSlot(), fields, h('div', { class: 'buttons' }, button));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    button.disabled = true;
    form.setAttribute('aria-busy', 'true');
    try {
      const body = { version: c.version, ...(await build(form)) };
      await request(`/cases/${encodeURIComponent(page.id)}/${command}`, { method: 'POST', body, signal: page.signal });
      await page.reload({ focus: true, message: success });
    } catch (error) {
      if (isAbort(error)) return;
      if (error.stale) page.showStale();
      else if (Array.isArray(error.issues)) showErrors(form, error, locate && ((expr) => locate(form, expr)));
      else showErrors(form, { issues: [{ diagnostics: error.message, expression: [] }] });
    } finally {
      button.disabled = false;
      form.removeAttribute('aria-busy');
    }
  });
  return form;
}

function text(name, attrs = {}) {
  return h('input', { type: 'text', name, autocomplete: 'off', ...attrs });
}

function textarea(name) {
  return h('textarea', { name, rows: '3' });
}

function assignToMe(page, c) {
  return commandForm(page, c, {
    id: 'assign-me-form', title: 'Assign to me', command: 'assignment', submit: 'Assign to me',
    build: () => ({ reviewer: page.me.id }), success: 'Case assigned to you.',
  });
}

function assignTo(page, c) {
  const picker = select({ name: 'reviewer' }, [['', 'Loading reviewers…']]);
  reviewers ??= request('/reviewers').catch((error) => { reviewers = null; throw error; });
  const form = commandForm(page, c, {
    id: 'assign-form', title: 'Assign to…', command: 'assignment', submit: 'Assign',
    fields: [field('Reviewer', picker, { field: 'reviewer' })],
    build: () => ({ reviewer: picker.value }), success: 'Case assigned.',
  });
  reviewers.then((answer) => {
    const profiles = Array.isArray(answer) ? answer : list(answer?.reviewers);
    picker.replaceChildren(h('option', { value: '' }, 'Choose a reviewer'), ...profiles.map((p) => h('option',
      { value: describe(p?.id), selected: describe(p?.id) === c.assignee },
      `${describe(p?.id)}${list(p?.roles).length ? ` (${list(p.roles).join(', ')})` : ''}`)));
  }).catch((error) => {
    if (isAbort(error)) return;
    picker.replaceChildren(h('option', { value: '' }, 'Reviewers could not be loaded'));
    form.querySelector('.form-errors').replaceChildren(errorBox(error));
  });
  return form;
}

function start(page, c) {
  return commandForm(page, c, {
    id: 'start-form', title: 'Start the review', command: 'start', submit: 'Start review', success: 'Review started.',
  });
}

function extension(page, c) {
  const days = h('input', { type: 'number', name: 'days', min: '1', max: '60', step: '1', inputmode: 'numeric' });
  const reason = textarea('reason');
  return commandForm(page, c, {
    id: 'extension-form', title: 'Extend the due date', command: 'extension', submit: 'Extend',
    fields: [field('Days (1 to 60)', days, { field: 'days' }), field('Reason', reason, { field: 'reason' })],
    build: () => {
      const value = days.value.trim();
      return { ...(value ? { days: /^-?\d+$/.test(value) ? Number(value) : value } : {}), reason: reason.value.trim() };
    },
    success: 'Due date extended.',
  });
}

function reopen(page, c) {
  const reason = textarea('reason');
  return commandForm(page, c, {
    id: 'reopen-form', title: 'Reopen the case', command: 'reopen', submit: 'Reopen',
    fields: [field('Reason', reason, { field: 'reason' })],
    build: () => ({ reason: reason.value.trim() }), success: 'Case reopened.',
  });
}

function informationRequest(page, c) {
  const rows = h('div', { class: 'rows' });
  const renumber = () => [...rows.children].forEach((row, i) => {
    row.querySelector('legend').textContent = `Requested item ${i + 1}`;
    row.querySelector('[name="text"]').setAttribute('data-field', `items[${i}].text`);
    row.querySelector('[name="code"]').setAttribute('data-field', `items[${i}].code.code`);
    const remove = row.querySelector('.remove');
    remove.hidden = rows.children.length === 1;
    remove.textContent = `Remove item ${i + 1}`;
  });
  const addRow = () => {
    const remove = h('button', { type: 'button', class: 'remove link-button' }, 'Remove');
    const row = h('fieldset', { class: 'row' }, h('legend', {}, 'Requested item'),
      field('What is needed', text('text')),
      field('LOINC code (optional)', text('code'), { hint: 'e.g. 11506-3 (progress note)' }),
      remove);
    remove.addEventListener('click', () => {
      const index = [...rows.children].indexOf(row);
      row.remove();
      renumber();
      rows.children[Math.max(0, index - 1)].querySelector('[name="text"]').focus();
    });
    rows.append(row);
    renumber();
    return row;
  };
  addRow();
  const add = h('button', { type: 'button', id: 'information-request-add' }, 'Add another item');
  add.addEventListener('click', () => addRow().querySelector('[name="text"]').focus());
  const due = h('input', { type: 'date', name: 'due_by' });
  return commandForm(page, c, {
    id: 'information-request-form', title: 'Request information', command: 'information-request', submit: 'Send request',
    fields: [rows, h('div', { class: 'buttons' }, add), field('Due by', due, { field: 'due_by' })],
    build: () => ({
      items: [...rows.children].map((row) => {
        const code = row.querySelector('[name="code"]').value.trim();
        return { text: row.querySelector('[name="text"]').value.trim(), ...(code ? { code: { system: LOINC, code } } : {}) };
      }),
      ...(due.value ? { due_by: due.value } : {}),
    }),
    success: 'Information requested.',
  });
}

function information(page, c) {
  const files = h('input', { type: 'file', name: 'files', multiple: true });
  const url = h('input', { type: 'url', name: 'url', autocomplete: 'off', placeholder: 'https://' });
  const type = text('content_type', { value: 'application/pdf' });
  const title = text('title');
  let fileCount = 0;
  return commandForm(page, c, {
    id: 'information-form', title: 'Record documents received', command: 'information', submit: 'Record documents',
    intro: 'Attach files, give the address of a document the sender holds, or both.',
    fields: [
      field('Files', files, { field: 'documents' }),
      h('fieldset', {}, h('legend', {}, 'A document at an address (optional)'),
        field('Address (https)', url), field('Content type', type), field('Title', title)),
    ],
    build: async () => {
      const documents = [];
      for (const file of files.files) {
        documents.push({ content_type: file.type || 'application/octet-stream', title: file.name, data: await readBase64(file) });
      }
      fileCount = documents.length;
      if (url.value.trim()) {
        documents.push({ content_type: type.value.trim(), url: url.value.trim(), ...(title.value.trim() ? { title: title.value.trim() } : {}) });
      }
      return { documents };
    },
    // documents[i] is a file (before fileCount) or the address document (at fileCount)
    locate: (form, expr) => {
      const found = expr.match(/^documents\[(\d+)\]\.?(\w*)/);
      if (!found) return locateField(form, expr);
      if (Number(found[1]) < fileCount) return files;
      return { url, content_type: type, title }[found[2]] ?? url;
    },
    success: 'Documents recorded.',
  });
}

function determination(page, c) {
  const active = list(c.items).filter((item) => item && !item.cancelled);
  reasonCodes ??= request('/reason-codes').catch((error) => { reasonCodes = null; throw error; });
  const datalist = h('datalist', { id: 'reason-codes' });
  const note = h('p', { class: 'hint' });
  reasonCodes.then((answer) => {
    datalist.replaceChildren(...list(answer?.codes).map((code) => h('option', { value: describe(code?.code) }, describe(code?.display))));
  }).catch((error) => {
    if (!isAbort(error)) note.textContent = `The list of reason codes could not be loaded (${error.message}); type the code.`;
  });

  const fieldsets = active.map((item, i) => {
    const seq = describe(item.sequence);
    const at = `decisions[${i}]`;
    const decision = select({ name: 'decision' }, DECISIONS);
    const granted = h('div', { class: 'granted', hidden: true },
      field('Authorized quantity', h('input', { type: 'number', name: 'authorized_quantity', min: '0', step: 'any' }),
        { field: `${at}.authorized_quantity` }),
      field('Authorized from', h('input', { type: 'date', name: 'authorized_start' }), { field: `${at}.authorized_period.start` }),
      field('Authorized to', h('input', { type: 'date', name: 'authorized_end' }), { field: `${at}.authorized_period.end` }));
    decision.addEventListener('change', () => { granted.hidden = !['partial', 'modified'].includes(decision.value); });
    return h('fieldset', { class: 'item-decision', 'data-item-sequence': seq },
      h('legend', {}, `Item ${seq}: ${describe(item.service) || 'service'}${item.quantity !== undefined ? ` × ${describe(item.quantity)}` : ''}`),
      field('Decision', decision, { field: `${at}.decision` }),
      field('Reason code', text('reason_code', { list: 'reason-codes' }),
        { field: `${at}.reason_code`, hint: 'X12 code list 886; needed for denied, partial and modified.' }),
      field('Reason text', text('reason_text'), { field: `${at}.reason_text` }),
      granted);
  });

  const build = (form) => ({
    decisions: [...form.querySelectorAll('fieldset[data-item-sequence]')].map((set, i) => {
      const value = (name) => set.querySelector(`[name="${name}"]`).value.trim();
      const d = { item_sequence: Number(active[i].sequence) };
      if (value('decision')) d.decision = value('decision');
      if (value('reason_code')) d.reason_code = value('reason_code');
      if (value('reason_text')) d.reason_text = value('reason_text');
      if (['partial', 'modified'].includes(d.decision)) {
        const quantity = value('authorized_quantity');
        if (quantity) d.authorized_quantity = Number(quantity);
        const [startDate, endDate] = [value('authorized_start'), value('authorized_end')];
        if (startDate || endDate) d.authorized_period = { ...(startDate ? { start: startDate } : {}), ...(endDate ? { end: endDate } : {}) };
      }
      return d;
    }),
  });
  return commandForm(page, c, {
    id: 'determination-form', title: 'Record the determination', command: 'determination', submit: 'Record determination',
    fields: [note, datalist, fieldsets.length ? fieldsets : h('p', { class: 'empty' }, 'No active items to decide.')],
    build, success: 'Determination recorded.',
  });
}
