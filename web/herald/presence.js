/** Page visibility to Herald (`POST /api/presence`): while a tab of the user is visible, nothing is pushed. */

/** A JSON call on the subscriber API with the session cookie. @param {import('./api.js').Api} api @param {string} method @param {string} path @param {object} [body] */
export async function request(api, method, path, body) {
  const response = await fetch(api.base + path, {
    // keepalive: a "hidden" sent from pagehide must outlive the page.
    method, keepalive: true, credentials: api.crossOrigin ? 'include' : 'same-origin',
    headers: { Accept: 'application/json', ...(body && { 'Content-Type': 'application/json' }) },
    body: body && JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`herald: ${method} ${path}: ${response.status}`);
  return response.status === 204 ? null : response.json();
}

export class Presence {
  /** This tab's id in reports, and in the events' `watched`. */
  id = crypto.randomUUID?.() ?? String(Math.random()).slice(2);
  #timer = 0;
  /** @type {AbortController | undefined} */
  #listening;

  /** @param {import('./api.js').Api} api @param {number} every  ms between reports while visible (a third of the server's hold) */
  constructor(api, every = 30000) {
    this.api = api;
    this.every = every;
  }

  start() {
    this.stop(false);
    const signal = (this.#listening = new AbortController()).signal;
    document.addEventListener('visibilitychange', () => this.#send(), { signal });
    addEventListener('pagehide', () => this.#send(false), { signal });
    this.#timer = setInterval(() => document.visibilityState === 'visible' && this.#send(), this.every);
    this.#send();
  }

  stop(report = true) {
    this.#listening?.abort();
    clearInterval(this.#timer);
    if (report && this.#listening) this.#send(false);
    this.#listening = undefined;
  }

  #send(visible = document.visibilityState === 'visible') {
    request(this.api, 'POST', '/api/presence', { client: this.id, visible }).catch(() => {});
  }
}
