// Sign-in: the local demo users as buttons (claimbridge serve), or a button to Cognito's hosted UI.
// Afterwards the console goes to ctx.next: the page first asked for.

import * as auth from '../auth.js';
import { h } from '../dom.js';
import { errorBox, loading } from '../ui.js';
import { isAbort } from '../api.js';

export async function render(view, ctx) {
  ctx.setTitle('Sign in');
  const problems = h('div', { id: 'signin-errors' }, ctx.error ? errorBox(ctx.error) : null);
  view.append(h('h1', { tabindex: '-1' }, 'Sign in'), problems);

  if (auth.mode() === 'cognito') {
    const button = h('button', { type: 'button', id: 'signin-cognito', class: 'primary' }, 'Sign in with your organisation account');
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await auth.beginCognito(ctx.next);
      } catch (error) {
        button.disabled = false;
        problems.replaceChildren(errorBox({ status: 0, diagnostics: `Sign-in could not start: ${error.message}` }));
      }
    });
    view.append(h('p', {}, 'You will be sent to the sign-in page and brought back here.'), button);
    return;
  }

  const users = h('ul', { id: 'signin-users', class: 'user-list', 'aria-labelledby': 'signin-users-label' });
  const placeholder = loading('Loading the demo users…');
  view.append(h('p', { id: 'signin-users-label' }, 'Local sign-in: choose a demo user.'), placeholder, users);

  let list;
  try {
    list = await auth.localUsers();
  } catch (error) {
    if (isAbort(error) || ctx.signal.aborted) return;
    placeholder.remove();
    problems.replaceChildren(errorBox(error, { retry: () => ctx.navigate(ctx.path, { replace: true }) }));
    return;
  }
  if (ctx.signal.aborted) return;
  placeholder.remove();
  if (!list.length) users.replaceWith(h('p', { class: 'empty' }, 'No demo users are configured.'));

  for (const user of list) {
    const username = String(user?.username ?? '');
    if (!username) continue;
    const groups = Array.isArray(user.groups) ? user.groups.map(String).join(', ') : '';
    const groupsId = `signin-groups-${users.children.length}`;
    const button = h('button', { type: 'button', 'aria-describedby': groups ? groupsId : null }, username);
    button.addEventListener('click', () => choose(username));
    users.append(h('li', {}, button, groups ? h('span', { class: 'hint', id: groupsId }, groups) : null));
  }
  performance.mark('signin-ready');  // bench figure 12 (bench/console_side.py)

  async function choose(username) {
    const buttons = [...users.querySelectorAll('button')];
    for (const b of buttons) b.disabled = true;
    problems.replaceChildren();
    try {
      await auth.localSignIn(username);
    } catch (error) {
      for (const b of buttons) b.disabled = false;
      problems.replaceChildren(errorBox(error));
      return;
    }
    ctx.signedIn(ctx.next, username);
  }
}
