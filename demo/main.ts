// The /demo enrolment page: a browser holding an access token enrols a TOTP factor and signs in.
// No framework; bundled by esbuild (src/demo/build.ts). Every request goes to this origin's /graphql.
import { print } from 'graphql';
import { createClient, type Client } from 'graphql-sse';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
// The codegen typed documents (written in src/client/demo.ts). Imported as the generated constants,
// which esbuild tree-shakes, instead of through graphql()'s map of every document in the project.
import {
  DemoChallengeUpdatedDocument,
  DemoCreateChallengeDocument,
  DemoCreateFactorDocument,
  DemoVerifyChallengeDocument,
  DemoVerifyFactorDocument,
} from '../src/client/gql/graphql.ts';

const ENDPOINT = new URL('/graphql', location.href).href;

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el as T;
};

const ui = {
  token: $<HTMLTextAreaElement>('token'),
  tokenSource: $('token-source'),
  serviceSid: $<HTMLInputElement>('service-sid'),
  identity: $<HTMLInputElement>('identity'),
  createFactorForm: $<HTMLFormElement>('create-factor-form'),
  friendlyName: $<HTMLInputElement>('friendly-name'),
  binding: $('binding'),
  qr: $('qr'),
  secret: $('secret'),
  verifyFactorForm: $<HTMLFormElement>('verify-factor-form'),
  factorCode: $<HTMLInputElement>('factor-code'),
  factorStatus: $('factor-status'),
  signinPanel: $('signin-panel'),
  startChallenge: $<HTMLButtonElement>('start-challenge'),
  verifyChallengeForm: $<HTMLFormElement>('verify-challenge-form'),
  challengeCode: $<HTMLInputElement>('challenge-code'),
  challengeHint: $('challenge-hint'),
  challengeStatus: $('challenge-status'),
  error: $('error'),
};

const state: { factorSid?: string; challengeSid?: string; unsubscribe?: () => void; sse?: Client } = {};

/** A GraphQL error as Verity reports it: a stable code (docs/api-contract.md "Errors") and a message. */
class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

function showError(e: unknown) {
  const err = e instanceof ApiError ? e : new ApiError('CLIENT_ERROR', e instanceof Error ? e.message : String(e));
  ui.error.textContent = `${err.code}: ${err.message}${err.retryAfter ? ` (retry in ${err.retryAfter} s)` : ''}`;
  ui.error.dataset.code = err.code;
  ui.error.hidden = false;
}

function clearError() {
  ui.error.hidden = true;
  ui.error.textContent = '';
  delete ui.error.dataset.code;
}

function setStatus(el: HTMLElement, status: string, text = status) {
  el.dataset.status = status;
  el.textContent = text;
}

function token(): string {
  const t = ui.token.value.trim();
  if (!t) throw new ApiError('NO_TOKEN', 'Paste an access token first');
  return t;
}

const printed = new Map<unknown, string>();
const queryOf = (doc: TypedDocumentNode<unknown, never>) => {
  let q = printed.get(doc);
  if (q === undefined) printed.set(doc, (q = print(doc)));
  return q;
};

type GqlError = { message: string; extensions?: Readonly<Record<string, unknown>> };

function apiError(errors: readonly GqlError[]): ApiError {
  const first = errors[0]!;
  const { code, retryAfter } = first.extensions ?? {};
  return new ApiError(
    typeof code === 'string' ? code : 'GRAPHQL_ERROR',
    first.message,
    typeof retryAfter === 'number' ? retryAfter : undefined,
  );
}

/** One operation over HTTP POST with the bearer token; throws ApiError on any GraphQL error. */
async function run<R, V>(doc: TypedDocumentNode<R, V>, variables: V): Promise<R> {
  const res = await fetch(ENDPOINT, {
    method: 'POST',
    // The token is a header, never a cookie: nothing is sent implicitly, so no CSRF surface.
    credentials: 'omit',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      authorization: `Bearer ${token()}`,
    },
    body: JSON.stringify({ query: queryOf(doc as TypedDocumentNode<unknown, never>), variables }),
  });
  let body: { data?: R | null; errors?: GqlError[] };
  try {
    body = (await res.json()) as typeof body;
  } catch {
    throw new ApiError(`HTTP_${res.status}`, `Unexpected response from ${ENDPOINT}`);
  }
  if (body.errors?.length) throw apiError(body.errors);
  if (!body.data) throw new ApiError(`HTTP_${res.status}`, 'No data in the response');
  return body.data;
}

/** Disables the form's controls while `task` runs, and reports its failure. */
async function busy(controls: HTMLElement, task: () => Promise<void>) {
  const buttons = [...controls.querySelectorAll('button')];
  if (controls instanceof HTMLButtonElement) buttons.push(controls);
  buttons.forEach((b) => (b.disabled = true));
  clearError();
  try {
    await task();
  } catch (e) {
    showError(e);
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

/** Inserts qrCodeSvg (markup from this server) as parsed SVG nodes: no inline script or style, so CSP 'self' allows it. */
function showQr(svgMarkup: string) {
  const doc = new DOMParser().parseFromString(svgMarkup, 'image/svg+xml');
  const svg = doc.documentElement;
  if (svg.localName !== 'svg' || doc.getElementsByTagName('parsererror').length)
    throw new ApiError('BAD_QR', 'The QR code could not be read');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'QR code of the authenticator key');
  ui.qr.replaceChildren(document.importNode(svg, true));
}

// ------------------------------------------------------------------ 1. token
/**
 * Verity's access tokens are JWTs naming their service (`service`) and identity (`sub`): read,
 * not verified, to fill the form. Only a convenience — Verity verifies the token on every request.
 */
function prefillFromClaims() {
  const payload = ui.token.value.trim().split('.')[1];
  if (!payload) return;
  let claims: { service?: unknown; sub?: unknown; exp?: unknown };
  try {
    claims = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as typeof claims;
  } catch {
    return; // not a JWT: the fields stay as typed
  }
  if (typeof claims.service === 'string' && !ui.serviceSid.value) ui.serviceSid.value = claims.service;
  if (typeof claims.sub === 'string' && !ui.identity.value) ui.identity.value = claims.sub;
  if (typeof claims.exp === 'number') ui.token.title = `Expires ${new Date(claims.exp * 1000).toLocaleString()}`;
}

// A link like /demo#token=… (optionally &serviceSid=VA…&identity=…) fills the form; the fragment
// never reaches a server (RFC 3986 §3.5), and it is removed from the address bar and history at once.
function readFragment() {
  if (!location.hash) return;
  const params = new URLSearchParams(location.hash.slice(1));
  history.replaceState(null, '', location.pathname + location.search);
  const t = params.get('token');
  if (t) {
    ui.token.value = t;
    ui.tokenSource.textContent = 'Access token taken from the link (and removed from the address bar).';
  }
  ui.serviceSid.value = params.get('serviceSid') ?? '';
  ui.identity.value = params.get('identity') ?? '';
  prefillFromClaims();
}
ui.token.addEventListener('input', prefillFromClaims);

// ------------------------------------------------------------------ 2. enrol
ui.createFactorForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  void busy(ui.createFactorForm, async () => {
    const { createTotpFactor } = await run(DemoCreateFactorDocument, {
      input: { serviceSid: ui.serviceSid.value.trim(), identity: ui.identity.value.trim(), friendlyName: ui.friendlyName.value.trim() },
    });
    state.factorSid = createTotpFactor.factor.sid;
    showQr(createTotpFactor.binding.qrCodeSvg);
    ui.secret.textContent = createTotpFactor.binding.secret;
    ui.binding.hidden = false;
    ui.signinPanel.hidden = true;
    setStatus(
      ui.factorStatus,
      createTotpFactor.factor.status,
      `${createTotpFactor.factor.status}: scan the code, then enter the code the app shows`,
    );
    ui.factorCode.value = '';
    ui.factorCode.focus();
  });
});

ui.verifyFactorForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  void busy(ui.verifyFactorForm, async () => {
    if (!state.factorSid) throw new ApiError('NO_FACTOR', 'Create a factor first');
    const { verifyFactor } = await run(DemoVerifyFactorDocument, {
      input: { factorSid: state.factorSid, authPayload: ui.factorCode.value.trim() },
    });
    if (verifyFactor.status === 'VERIFIED') {
      setStatus(ui.factorStatus, 'VERIFIED');
      ui.verifyFactorForm.hidden = true;
      ui.signinPanel.hidden = false;
      // The seed was shown once for this binding; it is not needed on screen any more.
      ui.qr.replaceChildren();
      ui.secret.textContent = '';
      ui.binding.hidden = true;
    } else {
      // A wrong code is a result, not an error (docs/api-contract.md "Behaviour").
      setStatus(ui.factorStatus, verifyFactor.status, `${verifyFactor.status}: that code was not accepted, try the next one`);
    }
  });
});

// ------------------------------------------------------------------ 3. sign in
function sse(): Client {
  state.sse ??= createClient({
    url: ENDPOINT,
    credentials: 'omit',
    headers: () => ({ authorization: `Bearer ${token()}` }),
    retryAttempts: 3,
  });
  return state.sse;
}

/** Subscribes to the challenge; resolves once the server holds the subscription (the SSE response arrived). */
function watchChallenge(challengeSid: string): Promise<void> {
  state.unsubscribe?.();
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const stop = sse().subscribe<{ challengeUpdated: { sid: string; status: string } }>(
      { query: queryOf(DemoChallengeUpdatedDocument as TypedDocumentNode<unknown, never>), variables: { challengeSid } },
      {
        next: (result) => {
          if (result.errors?.length) return showError(apiError(result.errors));
          const c = result.data?.challengeUpdated;
          if (!c || c.sid !== state.challengeSid) return;
          // The only place the outcome is written: what the subscription pushed.
          setStatus(ui.challengeStatus, c.status);
          if (c.status !== 'PENDING') {
            ui.verifyChallengeForm.hidden = true;
            ui.challengeHint.textContent = '';
            stop();
          }
        },
        error: (e) => {
          const err = Array.isArray(e) ? apiError(e as GqlError[]) : e;
          if (!settled) reject(err);
          else showError(err);
        },
        complete: () => {},
      },
      {
        connected: () => {
          settled = true;
          resolve();
        },
      },
    );
    state.unsubscribe = stop;
  });
}

ui.startChallenge.addEventListener('click', () => {
  void busy(ui.startChallenge, async () => {
    if (!state.factorSid) throw new ApiError('NO_FACTOR', 'Enrol a factor first');
    ui.verifyChallengeForm.hidden = true;
    ui.challengeHint.textContent = '';
    const { createChallenge } = await run(DemoCreateChallengeDocument, { input: { factorSid: state.factorSid } });
    state.challengeSid = createChallenge.sid;
    setStatus(ui.challengeStatus, createChallenge.status);
    await watchChallenge(createChallenge.sid);
    ui.challengeCode.value = '';
    ui.verifyChallengeForm.hidden = false;
    ui.challengeHint.textContent = 'Waiting for your code…';
    ui.challengeCode.focus();
  });
});

ui.verifyChallengeForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  void busy(ui.verifyChallengeForm, async () => {
    if (!state.challengeSid) throw new ApiError('NO_CHALLENGE', 'Start a sign-in first');
    const { verifyChallenge } = await run(DemoVerifyChallengeDocument, {
      input: { challengeSid: state.challengeSid, authPayload: ui.challengeCode.value.trim() },
    });
    // The status panel waits for the subscription; the mutation's answer only tells a wrong code apart.
    ui.challengeHint.textContent =
      verifyChallenge.status === 'PENDING' ? 'That code was not accepted: try the next one.' : 'Code sent; waiting for the outcome…';
  });
});

readFragment();
addEventListener('hashchange', readFragment); // a new link opened in the same tab
document.documentElement.dataset.ready = 'true';
