/** Toasts: at most `max`, most urgent first; urgent stays, others leave after a pausable delay (WCAG 2.2.1). */
import { RANK, groupTitle, rich, safeUrl } from './format.js';
import { button, el } from './list.js';

/** @typedef {import('./format.js').Notification} Item */
/** @typedef {{ max: () => number, duration: (item: Item) => number, open: (item: Item, event: Event) => void,
 *   s: () => import('./i18n.js').Strings, render: (item: Item, node: HTMLElement) => Node | null | undefined,
 *   act: (item: Item, action: string) => void }} Options */
/** @typedef {{ item: Item, el: HTMLElement, timer: number }} Shown */

const QUEUE_MAX = 20;

export class Toasts {
  /** @type {Map<string, Shown>} */
  #shown = new Map();
  /** @type {{ item: Item, order: number }[]} */
  #queue = [];
  #order = 0;

  /** @param {HTMLElement} region  an aria-live container @param {Options} options */
  constructor(region, options) {
    this.region = region;
    this.options = options;
  }

  /** A grown group updates its toast, shown or queued, in place. @param {Item} item */
  show(item) {
    const shown = this.#shown.get(item.id);
    const queued = this.#queue.find((entry) => entry.item.id === item.id);
    if (shown) {
      this.#fill((shown.item = item), shown.el);
      this.#arm(shown);
    } else if (queued) {
      queued.item = item;
    } else {
      this.#queue.push({ item, order: this.#order++ });
      this.#pump();
    }
  }

  /** Shown or waiting. @param {string} id */
  has(id) {
    return this.#shown.has(id) || this.#queue.some((entry) => entry.item.id === id);
  }

  /** @param {string} id */
  dismiss(id) {
    this.#queue = this.#queue.filter((entry) => entry.item.id !== id);
    if (this.#remove(id)) this.#pump();
  }

  /** @param {string} id */
  #remove(id) {
    const shown = this.#shown.get(id);
    clearTimeout(shown?.timer);
    shown?.el.remove();
    return this.#shown.delete(id);
  }

  clear() {
    this.#queue = [];
    for (const id of [...this.#shown.keys()]) this.dismiss(id);
  }

  #pump() {
    this.#queue.sort((a, b) => RANK[a.item.priority] - RANK[b.item.priority] || a.order - b.order);
    this.#queue.length = Math.min(this.#queue.length, QUEUE_MAX);
    while (this.#queue.length) {
      const { item } = this.#queue[0];
      if (this.#shown.size >= this.options.max()) {
        // The least urgent, oldest toast makes room for a more urgent one.
        const less = [...this.#shown.values()].filter((other) => RANK[other.item.priority] > RANK[item.priority]);
        const room = less.sort((a, b) => RANK[b.item.priority] - RANK[a.item.priority])[0];
        if (!room) break;
        this.#remove(room.item.id);
      }
      this.#queue.shift();
      const shown = { item, el: el('div', 'toast', ''), timer: 0 };
      const node = shown.el;
      node.onclick = (event) => {
        const target = /** @type {Element} */ (event.target);
        const act = /** @type {HTMLElement | null} */ (target.closest('.act'))?.dataset.act;
        if (act) this.options.act(shown.item, act);
        if (act || target.closest('.dismiss')) this.dismiss(shown.item.id);
        else if (target.closest('.open')) this.options.open(shown.item, event);
      };
      node.onkeydown = (event) => event.key === 'Escape' && this.dismiss(shown.item.id);
      for (const type of ['pointerenter', 'focusin']) node.addEventListener(type, () => clearTimeout(shown.timer));
      for (const type of ['pointerleave', 'focusout']) node.addEventListener(type, () => this.#arm(shown));
      this.#fill(item, node);
      this.#shown.set(item.id, shown);
      this.region.append(node);
      this.#arm(shown);
    }
  }

  /** @param {Shown} shown */
  #arm(shown) {
    clearTimeout(shown.timer);
    if (shown.item.priority !== 'urgent') shown.timer = setTimeout(() => this.dismiss(shown.item.id), this.options.duration(shown.item));
  }

  /** Values go in as text, never markup. @param {Item} item @param {HTMLElement} node */
  #fill(item, node) {
    const s = this.options.s();
    const { text, more } = groupTitle(item, s);
    const url = safeUrl(item.url);
    node.dataset.id = item.id;
    node.dataset.priority = item.priority;
    node.style.order = String(RANK[item.priority]);
    const title = el(url ? 'a' : 'strong', url ? 'title open' : 'title', '');
    if (url) title.setAttribute('href', url);
    const spoken = item.priority === 'urgent' || item.priority === 'high' ? s.t(item.priority) : '';
    title.append(el('span', 'sr', spoken), text, more && ` ${more}`);
    const body = el('p', 'body', '');
    body.append(...rich(item.body));
    const acts = el('div', 'acts', '');
    for (const a of item.actions ?? []) acts.append(button(`act ${a.style ?? ''}`, a.label, `${a.label}: ${text}`, { 'data-act': a.id }));
    node.replaceChildren(title, ...(item.body ? [body] : []), ...(item.actions ? [acts] : []),
      button('dismiss', '×', s.t('dismiss') + text));
    const custom = this.options.render(item, node);
    if (custom && custom !== node) node.replaceChildren(custom);
  }
}
