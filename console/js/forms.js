// Labelled form controls, and the server's OperationOutcome shown beside the control it names.

import { h, uid, announce } from './dom.js';

/**
 * A labelled control: field('Reason', h('input', {name: 'reason'}), {hint, field: 'reason'}).
 * `field` is the request body path the server names in an error's expression (data-field).
 */
export function field(label, control, { hint, field: path, className } = {}) {
  if (!control.id) control.id = uid('f');
  if (path) control.setAttribute('data-field', path);
  const parts = [h('label', { for: control.id }, label)];
  if (hint) {
    const hintId = uid('hint');
    parts.push(h('p', { class: 'hint', id: hintId }, hint));
    control.setAttribute('aria-describedby', hintId);
  }
  parts.push(control);
  return h('div', { class: ['field', className].filter(Boolean).join(' ') }, parts);
}

/** <select> with [value, text] options; `selected` picks one. */
export function select(attrs, options, selected = '') {
  return h('select', attrs, options.map(([value, text]) =>
    h('option', { value, selected: value === selected }, text)));
}

/** The element at the top of a form where errors that name no control go. */
export function errorSlot() {
  return h('div', { class: 'form-errors' });
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll('.field-error')) el.remove();
  for (const el of form.querySelectorAll('[aria-invalid]')) {
    el.removeAttribute('aria-invalid');
    const base = el.getAttribute('data-described-base');
    if (base) el.setAttribute('aria-describedby', base); else el.removeAttribute('aria-describedby');
    el.removeAttribute('data-described-base');
  }
  const slot = form.querySelector('.form-errors');
  if (slot) slot.replaceChildren();
}

/** The control for an expression: exact data-field, else one under it, else its parent path's. */
export function locateField(form, expression) {
  const controls = [...form.querySelectorAll('[data-field]')];
  let path = expression;
  while (path) {
    const exact = controls.find((c) => c.getAttribute('data-field') === path);
    if (exact) return exact;
    const under = controls.find((c) => c.getAttribute('data-field').startsWith(`${path}.`));
    if (under) return under;
    const parent = path.replace(/(\.[^.[\]]+|\[\d+\])$/, '');
    if (parent === path) break;
    path = parent;
  }
  return null;
}

/**
 * Show an ApiError's issues: each next to the control its expression names (aria-invalid,
 * aria-describedby), the rest at the top of the form. Focus goes to the first bad control.
 */
export function showErrors(form, error, locate = (expr) => locateField(form, expr)) {
  clearErrors(form);
  const general = [];
  let first = null;
  for (const issue of error.issues) {
    const expression = issue.expression?.[0];
    const control = expression ? locate(expression) : null;
    if (!control) {
      general.push(issue.diagnostics);
      continue;
    }
    const id = uid('err');
    const message = h('p', { class: 'field-error', id }, issue.diagnostics);
    const wrapper = control.closest('.field');
    if (wrapper) wrapper.append(message); else control.after(message);
    const described = control.getAttribute('aria-describedby');
    if (described && !control.hasAttribute('data-described-base')) control.setAttribute('data-described-base', described);
    control.setAttribute('aria-describedby', [described, id].filter(Boolean).join(' '));
    control.setAttribute('aria-invalid', 'true');
    first ??= control;
  }
  const slot = form.querySelector('.form-errors');
  const summary = general.length
    ? h('div', { class: 'message error', role: 'alert' }, general.map((text) => h('p', {}, text)))
    : h('div', { class: 'message error', role: 'alert' }, h('p', {}, 'Please correct the fields marked below.'));
  if (slot) slot.replaceChildren(summary); else form.prepend(summary);
  if (first) first.focus();
  announce(general.length ? general.join(' ') : 'Please correct the fields marked in the form.');
}

/** A File as base64 (no data: prefix). */
export function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ''));
    reader.onerror = () => reject(reader.error || new Error(`Could not read ${file.name}`));
    reader.readAsDataURL(file);
  });
}
