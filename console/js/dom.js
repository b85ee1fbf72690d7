// The only way the console builds markup: createElement, setAttribute with the names written here,
// and text nodes. Server strings therefore always arrive as text, never as HTML.

/**
 * h('a', {href: '/console/', class: 'x', onclick: fn}, 'text', child, [more]) -> Element.
 * An attribute that is null, undefined or false is left out; true sets it empty (boolean attributes).
 * A function value under an on* name is an event listener. Children: Nodes, strings, numbers, arrays.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on')) {
      if (typeof value !== 'function') throw new TypeError(`h(): ${name} must be a function`);
      el.addEventListener(name.slice(2), value);
    } else if (name === 'style') {
      throw new TypeError('h(): style attributes break the CSP; use a class');  // (el.style.x from JS is fine)
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

let counter = 0;
/** A fresh id for label/aria wiring. */
export function uid(prefix = 'id') {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** Says `message` in the polite live region (#status). Cleared first so a repeat is said again. */
export function announce(message) {
  const region = document.getElementById('status');
  if (!region) return;
  region.textContent = '';
  setTimeout(() => { region.textContent = message; }, 60);
}
