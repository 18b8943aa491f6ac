/** System notifications for a hidden tab, tagged as the worker tags pushes; the bridge to push.js. */
import { groupTitle, plain, safeUrl } from './format.js';

/** @typedef {import('./format.js').Notification} Item */
/**
 * @typedef {{ registerServiceWorker?: () => Promise<unknown>, notifyRead?: (ids: string[] | 'all') => unknown,
 *   enablePush?: () => Promise<{ ok: boolean, reason?: string }> }} PushModule
 */

const PUSH_URL = new URL('../push.js', import.meta.url).href;
/** @type {Promise<PushModule | null> | undefined} */
let push;
/** A page may ship without Web Push: a missing push.js is not an error. */
const loadPush = () => (push ??= import(PUSH_URL).catch(() => null));

export const supported = () => 'Notification' in window;

/** Keep the worker registered for who enabled notifications before (push.js re-subscribes on a key change). */
export function restorePush() {
  if (supported() && Notification.permission === 'granted') loadPush().then((m) => m?.registerServiceWorker?.()).catch(() => {});
}

/** From a click: ask, then subscribe to Web Push if push.js is there. */
export async function enableDesktop() {
  if ((await Notification.requestPermission()) !== 'granted') return;
  const result = await (await loadPush())?.enablePush?.().catch((/** @type {unknown} */ error) => ({ ok: false, reason: String(error) }));
  if (result && !result.ok) console.warn('herald: no Web Push, notifications need an open tab:', result.reason);
}

export class SystemNotifier {
  /** @type {Map<string, Notification>} shown by this page itself, by item id */
  #shown = new Map();

  /** @param {(item: Item) => void} open  what a click does */
  constructor(open) {
    this.open = open;
  }

  /** @param {Item} item @param {import('./i18n.js').Strings} [s] */
  async show(item, s) {
    if (document.visibilityState !== 'hidden' || item.read || !(item.priority === 'urgent' || item.priority === 'high')) return;
    if (!supported() || Notification.permission !== 'granted') return;
    const { text, more } = groupTitle(item, s);
    const title = more ? `${text} (${more})` : text;
    const options = {
      body: plain(item.body), icon: item.avatarUrl, image: item.imageUrl,
      tag: item.replaceKey || item.groupKey || item.id, requireInteraction: item.priority === 'urgent',
      data: { id: item.id, url: safeUrl(item.url), actions: item.actions },
      actions: item.actions?.map((a) => ({ action: a.id, title: a.label })),
    };
    try {
      // Through the worker when there is one: its click handling and notifyRead cover these too.
      if (navigator.serviceWorker?.controller) return await (await navigator.serviceWorker.ready).showNotification(title, options);
      const note = new Notification(title, options);
      note.onclick = () => {
        focus();
        note.close();
        this.open(item);
      };
      note.onclose = () => this.#shown.get(item.id) === note && this.#shown.delete(item.id);
      this.#shown.set(item.id, note);
    } catch {
      // Some platforms allow them only from a worker; the toast still shows.
    }
  }

  /** Close them for read items, here and in the worker. @param {string[]} ids @param {boolean} all */
  async read(ids, all) {
    for (const [id, note] of this.#shown) if (all || ids.includes(id)) note.close();
    try {
      await (await loadPush())?.notifyRead?.(all ? 'all' : ids);
    } catch {
      // no worker
    }
  }
}
