/** The subscriber REST API, authenticated by the session cookie (never a token in a URL). */

/** @typedef {{ items: import('./format.js').Notification[], unreadCount: number, cursor: string, nextBefore: string | null }} Page */

export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
    /** Signed out or expired: retrying cannot help. */
    this.final = status === 401;
  }
}

export class Api {
  /** @param {string} base  '' for this origin, else Herald's */
  constructor(base) {
    this.base = base.replace(/\/$/, '');
    // Another origin needs the cookie sent explicitly (and Herald's CORS to allow it).
    this.crossOrigin = new URL(this.base || '/', location.href).origin !== location.origin;
  }

  /** @param {{ since?: string, before?: string | null, limit: number, archived?: boolean }} query @returns {Promise<Page>} */
  list(query) {
    const params = Object.entries(query).filter(([, value]) => value != null).map(([key, value]) => [key, String(value)]);
    return this.#call('GET', `/api/notifications?${new URLSearchParams(params)}`);
  }

  /** @param {string} id @param {boolean} keepalive  outlive a navigation @param {boolean} [click]  opened: the backend hears `clicked` @returns {Promise<{ unreadCount: number }>} */
  markRead(id, keepalive, click) {
    return this.#call('POST', `/api/notifications/${encodeURIComponent(id)}/${click ? 'click' : 'read'}`, { keepalive });
  }

  /** Triage one item: `unread`, `archive`, `unarchive`, `snooze` (body `{until}`), `actions/<id>`; else the bulk body.
   * @param {string | null} id @param {string} what @param {object} [body] @returns {Promise<{ unreadCount: number }>} */
  triage(id, what, body) {
    return this.#call('POST', `/api/notifications/${id ? `${encodeURIComponent(id)}/` : ''}${what}`, body && { body: JSON.stringify(body) });
  }

  /** @param {string | null} tabs  JSON, or null: per category */
  counts(tabs) {
    return this.#call('GET', `/api/notifications/counts${tabs ? `?tabs=${encodeURIComponent(tabs)}` : ''}`);
  }

  /** @returns {Promise<{ unreadCount: number }>} */
  markAllRead() {
    return this.#call('POST', '/api/notifications/read-all');
  }

  /** @param {string} cursor @param {number} timeout @param {AbortSignal} signal */
  poll(cursor, timeout, signal) {
    return this.#call('GET', `/api/notifications/poll?cursor=${cursor}&timeout=${timeout}`, { signal });
  }

  /** Delivered receipts. @param {string[]} ids */
  ack(ids) {
    return this.#call('POST', '/api/notifications/ack', { body: JSON.stringify({ ids }) });
  }

  /** @param {string} method @param {string} path @param {RequestInit} [init] */
  async #call(method, path, init) {
    const response = await fetch(this.base + path, {
      method, ...init, credentials: this.crossOrigin ? 'include' : 'same-origin',
      headers: { Accept: 'application/json', ...(init?.body && { 'Content-Type': 'application/json' }) },
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new ApiError(response.status, body.error, body.message ?? response.statusText);
    return body;
  }
}
