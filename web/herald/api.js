/** The subscriber REST API, authenticated by the session cookie (never a token in a URL). */

/** @typedef {{ items: import('./format.js').Notification[], unreadCount: number, cursor: string, nextBefore: string | null }} Page */

export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
    /** Signed out or expired: retrying cannot help until the page signs in again. */
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

  /** @param {{ since?: string, before?: string | null, limit: number }} query @returns {Promise<Page>} */
  list(query) {
    const params = Object.entries(query).filter(([, value]) => value != null).map(([key, value]) => [key, String(value)]);
    return this.#call('GET', `/api/notifications?${new URLSearchParams(params)}`);
  }

  /**
   * @param {string} id @param {boolean} keepalive  the page is navigating away: let the request finish
   * @returns {Promise<{ unreadCount: number }>}
   */
  markRead(id, keepalive) {
    return this.#call('POST', `/api/notifications/${encodeURIComponent(id)}/read`, keepalive);
  }

  /** @returns {Promise<{ unreadCount: number }>} */
  markAllRead() {
    return this.#call('POST', '/api/notifications/read-all');
  }

  /** @param {string} method @param {string} path @param {boolean} [keepalive] */
  async #call(method, path, keepalive) {
    const response = await fetch(this.base + path, {
      method, keepalive, headers: { Accept: 'application/json' }, credentials: this.crossOrigin ? 'include' : 'same-origin',
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new ApiError(response.status, body.error, body.message ?? response.statusText);
    return body;
  }
}
