/** The bell's tabs: from its `tabs` attribute (JSON) or else the server's categories, with counts from the server. */

/** @typedef {import('./format.js').Notification} Item @typedef {{ label: string, types?: string[], categories?: string[] }} Tab */

import { EN } from './i18n.js';

/** `order.*` matches by prefix, `*` everything, else exactly, as on the server. @param {string} type @param {string} p */
const matches = (type, p) => (p.endsWith('*') ? type.startsWith(p.slice(0, -1)) : type === p);

export class Tabs {
  /** @type {Tab[]} */
  list = [];
  /** -1: all, list.length: the archive, else a tab. */
  at = -1;
  /** @type {Record<string, number>} */
  #counts = {};
  /** The bell's language (i18n.js). */
  s = EN;

  /** @param {HTMLElement} nav @param {string | null} given  the `tabs` attribute */
  constructor(nav, given) {
    this.nav = nav;
    this.given = given;
    try {
      this.list = given ? JSON.parse(given) : [];
    } catch {
      this.given = null;
    }
  }

  get archive() {
    return this.at === this.list.length;
  }

  /** @param {Item} item */
  shows(item) {
    if (this.archive) return Boolean(item.archived);
    if (item.archived || (item.snoozedUntil ?? 0) > Date.now()) return false;
    const tab = this.list[this.at];
    return !tab || Boolean(tab.types?.some((p) => matches(item.type, p)) || (item.category && tab.categories?.includes(item.category)));
  }

  /** New counts (and, without a `tabs` attribute, the categories as tabs). @param {{ counts: (tabs: string | null) => Promise<any> }} client */
  async refresh(client) {
    const answer = await client.counts(this.given);
    if (!this.given) this.list = answer.tabs.map((/** @type {Tab} */ t) => ({ label: t.label, categories: [t.label] }));
    this.#counts = { '': answer.unread };
    for (const t of answer.tabs) this.#counts[t.label] = t.unread;
    this.render();
  }

  render() {
    const labels = [this.s.t('tabAll'), ...this.list.map((t) => t.label), this.s.t('archive')];
    this.nav.replaceChildren(...labels.map((label, i) => {
      const node = Object.assign(document.createElement('button'), { type: 'button', textContent: label });
      const n = i > labels.length - 2 ? 0 : this.#counts[i ? label : ''];
      if (n) node.append(Object.assign(document.createElement('span'), { className: 'n', textContent: ` ${n}` }));
      node.dataset.tab = String(i - 1);
      node.setAttribute('aria-pressed', String(i - 1 === this.at));
      return node;
    }));
  }
}
