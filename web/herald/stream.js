/**
 * One EventSource, its status, and reconnection. The browser retries a dropped
 * connection itself (with Last-Event-ID) but gives up on an error answer; then
 * this retries with exponential backoff and full jitter, so a restarted server
 * is not hit by every tab at once. Offline, it waits for `online`. Each new
 * EventSource opens at the cursor that `resume` (a REST catch-up) answers.
 */

/** @typedef {'connected' | 'reconnecting' | 'disconnected'} Status */
/**
 * @typedef {{ resume: () => Promise<string | null>, onEvent: (type: string, data: string, id: string) => void,
 *   onStatus: (status: Status) => void, onFinal: () => void, withCredentials: boolean }} StreamOptions
 */

const TYPES = ['ready', 'notification', 'read', 'reset'];
const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 30000;

export class Stream {
  /** @type {EventSource | null} */
  #source = null;
  /** @type {Status} */
  #status = 'disconnected';
  #attempt = 0;
  #timer = 0;
  /** Bumped by each connect and stop: a slow `resume` cannot open a stale stream. */
  #generation = 0;
  #running = false;
  #online = () => {
    this.#attempt = 0;
    if (this.#status !== 'connected') this.#connect();
  };
  #offline = () => {
    this.#generation++;
    this.#close();
    this.#set('disconnected');
  };

  /** @param {string} url @param {StreamOptions} options */
  constructor(url, options) {
    this.url = url;
    this.options = options;
  }

  get status() {
    return this.#status;
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
      if (generation !== this.#generation) return;
      if (!(/** @type {{ final?: boolean }} */ (error).final)) return this.#retry();
      this.stop();
      return this.options.onFinal();
    }
    if (generation !== this.#generation) return;
    const query = cursor === null ? '' : `?lastEventId=${encodeURIComponent(cursor)}`;
    const source = (this.#source = new EventSource(this.url + query, { withCredentials: this.options.withCredentials }));
    for (const type of TYPES) {
      source.addEventListener(type, (event) => {
        if (type === 'ready') {
          this.#attempt = 0;
          this.#set('connected');
        }
        const { data, lastEventId } = /** @type {MessageEvent<string>} */ (event);
        this.options.onEvent(type, data, lastEventId);
      });
    }
    source.onerror = () => {
      if (source !== this.#source) return;
      if (source.readyState === EventSource.CLOSED) this.#retry();
      else this.#set('reconnecting');
    };
  }

  #retry() {
    this.#close();
    if (!navigator.onLine) return this.#set('disconnected');
    this.#set('reconnecting');
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** this.#attempt++);
    this.#timer = setTimeout(() => this.#connect(), ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  #close() {
    clearTimeout(this.#timer);
    this.#source?.close();
    this.#source = null;
  }

  /** @param {Status} status */
  #set(status) {
    if (status !== this.#status) this.options.onStatus((this.#status = status));
  }
}
