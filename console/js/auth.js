// Signing in: the local demo users, or Cognito's authorization code flow with PKCE (S256).
// The id_token lives only in this module: a reload forgets it. sessionStorage holds nothing but
// the PKCE verifier, state and the page to return to, for the length of the redirect.

import { ApiError, request } from './api.js';

const PKCE_KEY = 'claimbridge.console.pkce';
let config = null;
let session = null; // {token, expiresAt, username}

export async function loadConfig() {
  const answer = await request('/console/config.json', { auth: false });
  if (answer?.signIn === 'local') {
    config = { signIn: 'local' };
  } else if (answer?.signIn === 'cognito' && typeof answer.authority === 'string' && /^https:\/\//.test(answer.authority)
      && answer.clientId && answer.redirectUri) {
    config = { ...answer, authority: answer.authority.replace(/\/+$/, ''), scope: answer.scope || 'openid email profile' };
  } else {
    throw new ApiError(0, { code: 'config', diagnostics: 'The console configuration (config.json) is not valid.' });
  }
  return config;
}

export function mode() {
  return config?.signIn ?? null;
}

export function token() {
  return session && Date.now() < session.expiresAt ? session.token : null;
}

export function signedIn() {
  return token() !== null;
}

/** Drop the token (after a 401, or signing out). */
export function forget() {
  session = null;
}

function remember(answer, username = null) {
  if (typeof answer?.id_token !== 'string' || !answer.id_token) {
    throw new ApiError(0, { code: 'login', diagnostics: 'Sign-in answered without an id_token.' });
  }
  const seconds = Number(answer.expires_in) > 0 ? Number(answer.expires_in) : 3600;
  session = { token: answer.id_token, expiresAt: Date.now() + seconds * 1000, username };
}

// --- local sign-in (claimbridge serve) ---

export async function localUsers() {
  const answer = await request('/local/users', { auth: false });
  return Array.isArray(answer?.users) ? answer.users : [];
}

export async function localSignIn(username) {
  remember(await request('/local/token', { method: 'POST', body: { username }, auth: false }), username);
}

// --- Cognito hosted UI ---

function base64url(bytes) {
  let binary = '';
  for (const b of new Uint8Array(bytes)) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(size = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(size)));
}

/** Off to Cognito; `next` is the console page to come back to. */
export async function beginCognito(next) {
  const verifier = randomString(48);
  const state = randomString(16);
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state, next }));
  const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const url = new URL(`${config.authority}/oauth2/authorize`);
  url.search = new URLSearchParams({
    response_type: 'code', client_id: config.clientId, redirect_uri: config.redirectUri, scope: config.scope,
    state, code_challenge: challenge, code_challenge_method: 'S256',
  }).toString();
  window.location.assign(url.toString());
}

/**
 * On the redirect back (?code=&state= or ?error=): exchange the code for tokens. Returns the page to
 * go to, or null when this load is not a Cognito redirect. Throws an ApiError when sign-in failed.
 */
export async function completeCognito(url) {
  if (mode() !== 'cognito') return null;
  const params = url.searchParams;
  if (!params.has('code') && !params.has('error')) return null;
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(PKCE_KEY) || 'null');
  } catch { saved = null; }
  sessionStorage.removeItem(PKCE_KEY);
  if (params.has('error')) {
    throw new ApiError(0, { code: 'login', diagnostics: `Sign-in failed: ${params.get('error_description') || params.get('error')}` });
  }
  if (!saved || saved.state !== params.get('state')) {
    throw new ApiError(0, { code: 'login', diagnostics: 'Sign-in could not be completed (its state did not match). Please sign in again.' });
  }
  const body = new URLSearchParams({
    grant_type: 'authorization_code', client_id: config.clientId, code: params.get('code'),
    redirect_uri: config.redirectUri, code_verifier: saved.verifier,
  });
  let response;
  let answer = null;
  try {
    response = await fetch(`${config.authority}/oauth2/token`, {
      method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body,
    });
    answer = await response.json();
  } catch {
    if (!response) throw new ApiError(0, { code: 'network', diagnostics: 'The sign-in service could not be reached.' });
  }
  if (!response.ok) {
    const why = answer?.error_description || answer?.error || `status ${response.status}`;
    throw new ApiError(response.status, { code: 'login', diagnostics: `Sign-in failed: ${why}` });
  }
  remember(answer);
  return typeof saved.next === 'string' ? saved.next : '/console/';
}

/** Forget the token; with Cognito, also end the hosted UI session (the browser leaves the page). */
export function signOut() {
  session = null;
  if (mode() !== 'cognito') return false;
  const url = new URL(`${config.authority}/logout`);
  url.search = new URLSearchParams({ client_id: config.clientId, logout_uri: config.logoutUri || config.redirectUri }).toString();
  window.location.assign(url.toString());
  return true;
}
