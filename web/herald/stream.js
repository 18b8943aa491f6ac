/** The live connection: SSE or WebSocket, polling after two failed attempts (docs/web-client.md). */

/** @typedef {'connected' | 'reconnecting' | 'disconnected'} Status */
/**
 * @typedef {{ resume: () => Promise<string>, onEvent: (type: string, data: any, id: string) => void,
 *   onStatus: (status: Status) => void, onFinal: () => void }} StreamOptions
 */

const BACKOFF_MAX_MS = 30000;
/** Closes not to retry (4401: the catch-up's 401 signs out). */
const FINAL_CLOSES = [4400, 4403, 4429];
/** Inbox changes: they carry a cursor, like items (docs/transports.md). */
export const CHANGES = ['read', 'retract', 'triage'];

export class Stream {
  /** @type {{ close(): void } | null} */
  #conn = null;
  /** @type {Status} read-only */
  status = 'disconnected';
  #attempt = 0;
  /** Stream attempts in a row without `ready`. */
  #failures = 0;
  /** Backoff, `ready` deadline or stream retry: one at a time. */
  #timer = 0;
  /** Bumped by each connect and stop: a slow `resume` cannot open a stale connection. */
  #generation = 0;
  #running = false;
  polling = false;
  #online = () => {
    this.#attempt = 0;
    if (this.status !== 'connected') this.#connect();
  };
  #offline = () => {
    this.#generation++;
    this.#close();
    this.#set('disconnected');
  };

  /** @param {import('./api.js').Api} api @param {string | null | undefined} mode @param {StreamOptions} options */
  constructor(api, mode, options) {
    this.api = api;
    this.mode = mode === 'websocket' ? mode : 'sse';
    this.options = options;
  }

  start() {
    if (this.#running) return;
    this.#running = true;
    addEventListener('online', this.#online);
    addEventListener('offline', this.#offline);
    this.#connect();
  }

  stop() {
    this.#running = false;
    removeEventListener('online', this.#online);
    removeEventListener('offline', this.#offline);
    this.#offline();
  }

  /** Delivered receipts: on the open WebSocket, else by HTTP. @param {string[]} ids */
  ack(ids) {
    const conn = this.#conn;
    if (conn instanceof WebSocket && conn.readyState === 1) conn.send(JSON.stringify({ type: 'ack', ids }));
    else this.api.ack(ids).catch(() => {});
  }

  async #connect() {
    const generation = ++this.#generation;
    this.#close();
    if (!this.#running) return;
    if (!navigator.onLine) return this.#set('disconnected');
    this.#set('reconnecting');
    let cursor;
    try {
      cursor = await this.options.resume();
    } catch (error) {
      if (generation === this.#generation && !this.#final(error)) this.#retry();
      return;
    }
    if (generation !== this.#generation) return;
    const conn = (this.#conn = this.polling ? this.#poll(cursor) : this.mode === 'sse' ? this.#sse(cursor) : this.#socket(cursor));
    if (!this.polling) this.#timer = setTimeout(() => this.#lost(conn), 10000);
  }

  /** @param {string} cursor */
  #sse(cursor) {
    const url = `${this.api.base}/api/notifications/stream?lastEventId=${encodeURIComponent(cursor)}`;
    const source = new EventSource(url, { withCredentials: this.api.crossOrigin });
    for (const type of ['ready', 'notification', 'reset', ...CHANGES]) {
      source.addEventListener(type, (event) => {
        const { data, lastEventId } = /** @type {MessageEvent} */ (event);
        this.#event(source, type, JSON.parse(data), lastEventId);
      });
    }
    // Not the browser's own retry: each attempt counts, and starts with a catch-up.
    source.onerror = () => this.#lost(source);
    source.addEventListener('closed', () => this.stop());
    return source;
  }

  /** @param {string} cursor */
  #socket(cursor) {
    const url = new URL(`${this.api.base}/api/notifications/ws`, location.href);
    url.protocol = url.protocol.replace('http', 'ws');
    const socket = new WebSocket(url);
    socket.onopen = () => socket.send(JSON.stringify({ type: 'resume', cursor }));
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      this.#event(socket, message.type, message.notification ?? message, message.cursor);
    };
    socket.onclose = (event) => (FINAL_CLOSES.includes(event.code) ? this.stop() : this.#lost(socket));
    return socket;
  }

  /** @param {string} cursor */
  #poll(cursor) {
    const abort = new AbortController();
    const conn = { close: () => abort.abort() };
    (async () => {
      // The first answers at once, as `ready`. Closing aborts the loop.
      for (let wait = 0; ; wait = 25) {
        const answer = await this.api.poll(cursor, wait, abort.signal);
        if (!wait) this.#event(conn, 'ready', answer, cursor);
        if (answer.reset) this.#event(conn, 'reset', null, answer.cursor);
        for (const item of answer.items) this.#event(conn, 'notification', item, answer.cursor);
        for (const change of answer.changes) this.#event(conn, change.type, change, change.cursor);
        cursor = answer.cursor;
      }
    })().catch((error) => conn === this.#conn && !this.#final(error) && this.#lost(conn));
    return conn;
  }

  /** @param {object} conn @param {string} type @param {any} data @param {string} id */
  #event(conn, type, data, id) {
    if (conn !== this.#conn) return;
    if (type === 'ready') {
      clearTimeout(this.#timer);
      this.#attempt = this.#failures = 0;
      this.#set('connected');
      if (this.polling) {
        this.#timer = setTimeout(() => {
          this.polling = false;
          this.#failures = 1; // so one failure brings polling back
          this.#connect();
        }, 60000);
      }
    }
    this.options.onEvent(type, data, id);
  }

  /** @param {object} conn  the attempt that failed or ended */
  #lost(conn) {
    if (conn !== this.#conn) return;
    if (this.status !== 'connected' && !this.polling && ++this.#failures > 1) {
      this.polling = true;
      return this.#connect();
    }
    this.#retry();
  }

  /** Signed out (401): retrying cannot help. @param {any} error */
  #final(error) {
    if (error?.final) {
      this.stop();
      this.options.onFinal();
    }
    return error?.final;
  }

  #retry() {
    this.#close();
    if (!navigator.onLine) return this.#set('disconnected');
    this.#set('reconnecting');
    const ceiling = Math.min(BACKOFF_MAX_MS, 1000 * 2 ** this.#attempt++);
    this.#timer = setTimeout(() => this.#connect(), ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  #close() {
    clearTimeout(this.#timer);
    const conn = this.#conn;
    this.#conn = null;
    conn?.close();
  }

  /** @param {Status} status */
  #set(status) {
    if (status !== this.status) this.options.onStatus((this.status = status));
  }
}
