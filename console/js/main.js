// The console's entry point: reads config.json, finishes a Cognito redirect, and routes
// /console/ (worklist), /console/cases/<id>, /console/operations and /console/signin with
// history.pushState. Same-origin <a href> clicks are intercepted; popstate re-renders.

import * as auth from './auth.js';
import { configure, request, isAbort } from './api.js';
import { h, announce } from './dom.js';
import { errorBox, hasRole } from './ui.js';
import * as worklist from './pages/worklist.js';
import * as casePage from './pages/case.js';
import * as operations from './pages/operations.js';
import * as signin from './pages/signin.js';

const HOME = '/console/';
const SIGNIN = '/console/signin';
const ROUTES = [
  { name: 'worklist', pattern: /^\/console\/(?:index\.html)?$/, page: worklist },
  { name: 'case', pattern: /^\/console\/cases\/([^/]+)\/?$/, page: casePage },
  { name: 'operations', pattern: /^\/console\/operations\/?$/, page: operations },
  { name: 'signin', pattern: /^\/console\/signin\/?$/, page: signin, public: true },
];

let me = null;            // GET /reviewers/me, once per sign-in
let current = null;       // the AbortController of the view on screen
let startupError = null;  // a failed Cognito redirect, shown once on the sign-in page

function match(pathname) {
  const path = pathname === '/console' ? HOME : pathname;
  for (const route of ROUTES) {
    const found = path.match(route.pattern);
    if (found) {
      try {
        return { route, params: found.slice(1).map(decodeURIComponent) };
      } catch {
        return null; // a malformed %-escape
      }
    }
  }
  return null;
}

/** Only console pages are places to return to after signing in. */
function safeNext(value) {
  if (typeof value !== 'string' || !(value === '/console' || value.startsWith(HOME)) || value.includes('\\')) return HOME;
  return match(new URL(value, window.location.origin).pathname)?.route.name === 'signin' ? HOME : value;
}

export function navigate(path, { replace = false } = {}) {
  window.history[replace ? 'replaceState' : 'pushState'](null, '', path);
  if (!replace) window.scrollTo(0, 0);
  render();
}

function toSignIn(next) {
  const target = safeNext(next);
  navigate(target === HOME ? SIGNIN : `${SIGNIN}?next=${encodeURIComponent(target)}`, { replace: true });
}

function updateHeader(routeName) {
  const inside = auth.signedIn() && me !== null;
  document.getElementById('site-nav').hidden = !inside;
  document.getElementById('user').hidden = !inside;
  document.getElementById('nav-operations').hidden = !(inside && hasRole(me, 'supervisor'));
  const roles = Array.isArray(me?.roles) ? me.roles.join(', ') : '';
  document.getElementById('user-name').textContent = inside ? `Signed in as ${me.id}${roles ? ` (${roles})` : ''}` : '';
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (link.getAttribute('data-nav') === routeName) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

function setTitle(text) {
  document.title = `${text} — claimbridge console`;
}

function focusHeading(view) {
  const heading = view.querySelector('h1');
  if (heading) {
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
  }
}

/** A view that failed as a whole: its own h1, the error and a way to try again. */
function failedView(view, title, error, retry = () => render()) {
  setTitle(title);
  view.replaceChildren(h('h1', { tabindex: '-1' }, title), errorBox(error, { retry }));
  focusHeading(view);
}

async function render() {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const url = new URL(window.location.href);
  const view = h('div', { class: 'view' });
  document.getElementById('main').replaceChildren(view);
  const found = match(url.pathname);

  if (found?.route.public && auth.signedIn()) return navigate(safeNext(url.searchParams.get('next')), { replace: true });
  if (found && !found.route.public && !auth.signedIn()) return toSignIn(url.pathname + url.search);
  if (found && !found.route.public && me === null) {
    try {
      me = await request('/reviewers/me', { signal: controller.signal });
    } catch (error) {
      if (isAbort(error) || controller.signal.aborted) return;
      updateHeader(null);
      return failedView(view, 'Could not load your profile', error);
    }
    if (controller.signal.aborted) return;
  }
  updateHeader(found?.route.name ?? null);

  if (!found) {
    setTitle('Page not found');
    view.append(h('h1', { tabindex: '-1' }, 'Page not found'),
      h('p', {}, 'There is no console page at this address. ', h('a', { href: HOME }, 'Go to the worklist')));
    focusHeading(view);
    return;
  }

  const ctx = {
    params: found.params,
    query: url.searchParams,
    path: url.pathname + url.search,
    me,
    signal: controller.signal,
    setTitle,
    navigate,
    next: safeNext(url.searchParams.get('next')),
    error: startupError,
    signedIn: (next, who) => {
      me = null;
      announce(`Signed in${who ? ` as ${who}` : ''}`);
      navigate(safeNext(next), { replace: true });
    },
  };
  startupError = null;
  let done;
  try {
    done = found.route.page.render(view, ctx); // builds the h1 before its first await
  } catch (error) {
    return failedView(view, 'This page could not be shown', error);
  }
  focusHeading(view);
  Promise.resolve(done).catch((error) => {
    if (!isAbort(error) && !controller.signal.aborted) failedView(view, 'This page could not be shown', error);
  });
}

function onLinkClick(event) {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = event.target instanceof Element ? event.target.closest('a[href]') : null;
  if (!link || (link.target && link.target !== '_self') || link.hasAttribute('download')) return;
  const url = new URL(link.href, window.location.href);
  if (url.origin !== window.location.origin || !match(url.pathname)) return;
  if (url.hash && url.pathname === window.location.pathname && url.search === window.location.search) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
}

function signOut() {
  me = null;
  announce('Signed out');
  if (!auth.signOut()) navigate(SIGNIN);
}

async function start() {
  configure({
    token: auth.token,
    unauthorized: () => {
      auth.forget();
      me = null;
      if (match(window.location.pathname)?.route.name !== 'signin') toSignIn(window.location.pathname + window.location.search);
    },
  });
  document.addEventListener('click', onLinkClick);
  window.addEventListener('popstate', () => render());
  document.getElementById('sign-out').addEventListener('click', signOut);

  try {
    await auth.loadConfig();
  } catch (error) {
    const view = h('div', { class: 'view' });
    document.getElementById('main').replaceChildren(view);
    failedView(view, 'The console could not start', error, () => window.location.reload());
    return;
  }
  try {
    const next = await auth.completeCognito(new URL(window.location.href));
    if (next !== null) window.history.replaceState(null, '', safeNext(next));
  } catch (error) {
    startupError = error;
    window.history.replaceState(null, '', SIGNIN);
  }
  render();
}

start();
