/** HeraldClient: stream, REST and store together, without UI; events in docs/web-client.md. */
import { Api } from './api.js';
import { Presence } from './presence.js';
import { InboxStore } from './store.js';
import { Stream } from './stream.js';

/** @typedef {import('./format.js').Notification} Notification */

const CATCH_UP_LIMIT = 100;
/** Further behind than this, start from the newest page rather than replay a flood. */
const CATCH_UP_MAX_PAGES = 10;
/** Receipts go in batches of this many ids, or after ACK_MS. */
const ACK_BATCH = 50;
const ACK_MS = 250;

export class HeraldClient extends EventTarget {
  store = new InboxStore();
  /** @type {string | null} */
  nextBefore = null;
  signedOut = false;
  #api;
  #stream;
  #chain = Promise.resolve();
  #reconcileTimer = 0;
  #loadingOlder = false;
  /** @type {Set<string>} */
  #acks = new Set();
  #ackTimer = 0;

  /** @param {{ base?: string, pageSize?: number, transport?: string | null }} [options]  transport: 'websocket', else SSE */
  constructor({ base = '', pageSize = 20, transport } = {}) {
    super();
    this.pageSize = pageSize;
    this.#api = new Api(base);
    this.presence = new Presence(this.#api);
    this.#stream = new Stream(this.#api, transport, {
      resume: () => this.#serial(() => this.#resume()),
      onEvent: (type, data, id) => this.#onEvent(type, data, id),
      onStatus: (status) => this.#emit('status', { status }),
      onFinal: () => this.#signOut(),
    });
  }

  get status() {
    return this.#stream.status;
  }

  /** 'sse', 'websocket', or 'poll' after a fallback. */
  get transport() {
    return this.#stream.polling ? 'poll' : this.#stream.mode;
  }

  start() {
    this.signedOut = false;
    this.#stream.start();
    this.presence.start();
  }

  stop() {
    this.#stream.stop();
    this.presence.stop();
    clearTimeout(this.#reconcileTimer);
  }

  /** Start over, e.g. after the page signed in as someone else. */
  restart() {
    this.stop();
    this.store.clear();
    this.nextBefore = null;
    this.#emit('change');
    this.start();
  }

  async loadOlder() {
    if (this.nextBefore === null || this.#loadingOlder) return;
    this.#loadingOlder = true;
    try {
      const page = await this.#api.list({ before: this.nextBefore, limit: this.pageSize });
      for (const item of page.items) this.#take(item, null, false);
      this.nextBefore = page.nextBefore;
      this.#emit('change');
    } finally {
      this.#loadingOlder = false;
    }
  }

  /** The badge shows only counts the server gave. @param {string} id @param {boolean} [keepalive] @param {boolean} [click] */
  async markRead(id, keepalive = false, click = false) {
    const { unreadCount } = await this.#api.markRead(id, keepalive, click);
    this.#applyRead(this.store.markRead([id]), unreadCount, false);
  }

  /** Triage (Api.triage); it comes back as a `triage` event. @param {string | null} id @param {string} what @param {object} [body] */
  async triage(id, what, body) {
    const { unreadCount } = await this.#api.triage(id, what, body);
    this.#settle(unreadCount);
  }

  /** @param {string | null} tabs */
  counts(tabs) {
    return this.#api.counts(tabs);
  }

  /** The archive view's page: archived items join the store. */
  async loadArchived() {
    const page = await this.#api.list({ archived: true, limit: this.pageSize });
    for (const item of page.items) this.#take(item, null, false);
  }

  async markAllRead() {
    const { unreadCount } = await this.#api.markAllRead();
    this.#applyRead(this.store.markRead(null), unreadCount, true);
  }

  /** Catch up over REST; answers the cursor to open the stream from. */
  async #resume() {
    await (this.store.loaded ? this.#catchUp() : this.#loadNewest());
    return /** @type {string} */ (this.store.position);
  }

  async #loadNewest() {
    const page = await this.#api.list({ limit: this.pageSize });
    for (const item of page.items) this.#take(item, null, false);
    this.store.advance(page.cursor);
    this.store.snapshot(page.unreadCount, page.cursor);
    this.nextBefore = page.nextBefore;
    this.#emit('change');
  }

  /** Everything after our cursor, oldest first; then a fresh count and read state. */
  async #catchUp() {
    let since = /** @type {string} */ (this.store.position);
    for (let pages = 0; pages < CATCH_UP_MAX_PAGES; pages++) {
      const page = await this.#api.list({ since, limit: CATCH_UP_LIMIT });
      for (const item of page.items) this.#take(item, null, true);
      // What changed meanwhile, as the stream would have said it.
      for (const change of page.changes) this.#onEvent(change.type, change, change.cursor);
      this.store.advance((since = page.cursor));
      if (page.items.length + page.changes.length < CATCH_UP_LIMIT) {
        this.store.snapshot(page.unreadCount, since);
        return this.#emit('change');
      }
    }
    this.store.clear();
    await this.#loadNewest();
  }

  /** @param {string} type @param {any} data @param {string} id */
  #onEvent(type, data, id) {
    if (type === 'ready') {
      this.store.position = id;
    } else if (type === 'notification') {
      // A live broadcast has no cursor of its own.
      if (data.broadcast) return this.#take(data, null, true);
      this.store.advance(id);
      this.#take(data, id, true);
    } else if (type === 'read') {
      if (id) this.store.advance(id);
      const { ids, all, unreadCount } = data;
      this.#applyRead(this.store.markRead(all ? null : ids), unreadCount, Boolean(all));
    } else if (type === 'retract') {
      // Retracted or expired: gone, toasts and notifications closed.
      if (id) this.store.advance(id);
      this.store.remove(data.ids);
      this.#emit('retract', { ids: data.ids, reason: data.reason });
      // A live broadcast's retract has no count.
      data.unreadCount === undefined ? this.#emit('change') : this.#settle(data.unreadCount);
    } else if (type === 'triage') {
      // Archived, snoozed, seen, unread again or acted on, here or elsewhere.
      if (id) this.store.advance(id);
      const { ids, unreadCount, type: _, cursor, ...state } = data;
      this.store.patch(ids, state);
      this.#emit('triage', { ids, state });
      this.#settle(unreadCount);
    } else if (type === 'reset') {
      // Our cursor is older than the server keeps: start again from the newest page.
      this.store.clear();
      this.store.position = id;
      this.#serial(() => this.#loadNewest()).catch(() => {});
    }
  }

  /** @param {Notification} item @param {string | null} pos @param {boolean} alert  unseen by the user */
  #take(item, pos, alert) {
    const kind = this.store.merge(item, pos);
    if (kind === 'duplicate') return;
    this.#ack(item.id);
    if (kind === 'read') this.#emit('read', { ids: [item.id], all: false });
    else this.#emit('notification', { item: this.store.get(item.id), kind, alert });
    this.#emit('change');
  }

  /** @param {string[]} changed @param {number} unreadCount @param {boolean} all */
  #applyRead(changed, unreadCount, all) {
    if (changed.length || all) this.#emit('read', { ids: changed, all });
    this.#settle(unreadCount);
  }

  /** A count the server gave with a change, true "now". @param {number} unreadCount */
  #settle(unreadCount) {
    this.store.snapshot(unreadCount, null);
    this.#emit('change');
    // A read count is true "now", but reads and notifications travel apart and
    // may cross; one look at the count with its cursor shortly after settles it.
    clearTimeout(this.#reconcileTimer);
    this.#reconcileTimer = setTimeout(() => this.#api.list({ limit: 1 }).then((page) => {
      this.store.snapshot(page.unreadCount, page.cursor);
      this.#emit('change');
    }, () => {}), 400 + Math.random() * 400);
  }

  /** Receipt for what reached this tab. @param {string} id */
  #ack(id) {
    this.#acks.add(id);
    if (this.#acks.size >= ACK_BATCH) this.#flushAcks();
    else this.#ackTimer ||= setTimeout(() => this.#flushAcks(), ACK_MS);
  }

  #flushAcks() {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = 0;
    this.#stream.ack([...this.#acks]);
    this.#acks.clear();
  }

  #signOut() {
    this.signedOut = true;
    this.store.clear();
    this.nextBefore = null;
    this.#emit('change');
    this.#emit('signedout');
  }

  /** One REST job at a time: a catch-up and a reset never interleave. @template T @param {() => Promise<T>} work */
  #serial(work) {
    const run = this.#chain.then(work);
    this.#chain = run.then(() => {}, () => {});
    return run;
  }

  /** @param {string} type @param {object} [detail] */
  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
