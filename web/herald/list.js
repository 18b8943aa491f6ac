/** The dropdown's rows, kept per id so focus and open groups survive updates. Values go in as text. */
import { ago, groupMembers, groupTitle, rich, safeUrl } from './format.js';
import { EN } from './i18n.js';

/** @typedef {import('./format.js').Notification} Item */

export class HistoryList {
  /** @type {Map<string, HTMLLIElement>} */
  #rows = new Map();
  /** @type {Set<string>} groups whose members show */
  expanded = new Set();
  /** The language (bell.js sets it). */
  s = EN;
  /** @type {((item: Item, node: HTMLElement, where: string) => Node | null | undefined) | undefined} the page's hook */
  renderItem;

  /** @param {HTMLUListElement} list @param {HTMLSelectElement} filter */
  constructor(list, filter) {
    this.list = list;
    this.filter = filter;
  }

  /** Build every row again (the language or the hook changed). */
  refresh() {
    this.#rows.clear();
  }

  /** @param {Item[]} all  newest first @returns {number} how many show after filtering */
  render(all) {
    const items = this.#filtered(all);
    const root = /** @type {ShadowRoot} */ (this.list.getRootNode());
    const active = /** @type {HTMLElement | null} */ (root.activeElement);
    const activeRow = /** @type {HTMLElement | null | undefined} */ (active?.closest('.item'));
    const rows = items.map((item) => this.#row(item));
    if (rows.length !== this.list.children.length || rows.some((row, i) => row !== this.list.children[i])) {
      this.list.replaceChildren(...rows);
    }
    const ids = new Set(all.map((item) => item.id));
    for (const id of this.#rows.keys()) if (!ids.has(id)) this.#rows.delete(id);
    // Focus was in a rebuilt row (its "Mark read" went away): keep it on that row.
    if (activeRow && !root.activeElement?.closest('.item')) {
      const row = this.#rows.get(/** @type {string} */ (activeRow.dataset.id));
      const same = active && row?.querySelector(`.${active.classList[0]}`);
      /** @type {HTMLElement | null | undefined} */ (same ?? row?.querySelector('.open'))?.focus();
    }
    return items.length;
  }

  /** Options follow the types loaded so far. @param {Item[]} items */
  #filtered(items) {
    const { filter } = this;
    const types = [...new Set(items.map((item) => item.type))].sort();
    if (String(types) !== String([...filter.options].slice(1).map((option) => option.value))) {
      const chosen = filter.value;
      filter.replaceChildren(filter.options[0], ...types.map((type) => new Option(type, type)));
      filter.value = types.includes(chosen) ? chosen : '';
    }
    return filter.value ? items.filter((item) => item.type === filter.value) : items;
  }

  /** @param {Item} item */
  #row(item) {
    const expanded = this.expanded.has(item.id);
    const { s } = this;
    const key = `${item.groupCount}|${item.timestamp}|${item.read}|${expanded}|${ago(item.timestamp, Date.now(), s)}|${s.lang}|${item.archived}|${item.action}`;
    let row = this.#rows.get(item.id);
    if (row?.dataset.key === key) return row;
    row ??= document.createElement('li');
    this.#rows.set(item.id, row);
    row.className = item.read ? 'item' : 'item unread';
    Object.assign(row.dataset, { id: item.id, priority: item.priority, key });
    const { text, more } = groupTitle(item, s);
    const url = safeUrl(item.url);
    // A real link when there is a url: middle-click and the like keep working.
    const open = el(url ? 'a' : 'button', 'open', '');
    open.setAttribute(url ? 'href' : 'type', url ?? 'button');
    const title = el('span', 'title', text);
    if (!item.read) title.prepend(el('span', 'sr', s.t('unreadPrefix')));
    const when = el('time', '', ago(item.timestamp, Date.now(), s));
    when.setAttribute('datetime', new Date(item.timestamp).toISOString());
    when.title = s.date.format(item.timestamp);
    const body = el('span', 'body', '');
    body.append(...rich(item.body));
    // A link may not sit inside the row's own link or button: such a body goes beside it.
    const nested = body.querySelector('a');
    open.append(...pictures(item), title, ...(more ? [el('span', 'more', more)] : []), ...(item.body && !nested ? [body] : []), when);
    const actions = el('div', 'actions', '');
    const children = [open, actions, ...(nested ? [body] : [])];
    if (item.groupCount > 1) {
      actions.append(button('expand', s.t(expanded ? 'hide' : 'details'), s.t(expanded ? 'hideWho' : 'showWho') + text,
        { 'aria-expanded': String(expanded) }));
      if (expanded) children.push(el('p', 'members', groupMembers(item, s)));
    }
    const arc = item.archived ? 'unarchive' : 'archive';
    actions.append(item.read ? button('mu', s.t('markUnread'), s.t('markUnreadOf') + text) : button('read', s.t('markRead'), s.t('markReadOf') + text),
      button('arc', s.t(arc), s.t(arc + 'Of') + text));
    if (!item.archived) {
      const snooze = el('select', 'snooze', '');
      snooze.setAttribute('aria-label', s.t('snoozeOf') + text);
      snooze.append(...['', 'h', 'd', 'w'].map((v) => new Option(s.t('snooze' + v), v)));
      actions.append(snooze);
    }
    if (item.actions?.length) {
      const acts = el('div', 'acts', '');
      for (const a of item.actions) {
        const b = button(`act ${a.style ?? ''}`, a.label, `${a.label}: ${text}`, { 'data-act': a.id, 'aria-pressed': String(item.action === a.id) });
        acts.append(b);
      }
      children.push(acts);
    }
    row.replaceChildren(...children);
    const custom = this.renderItem?.(item, row, 'list');
    if (custom && custom !== row) row.replaceChildren(custom);
    return row;
  }
}

/** Avatar and image as decorative pictures (the title says what they show). @param {Item} item */
export function pictures(item) {
  return [['avatar', item.avatarUrl], ['picture', item.imageUrl]].filter(([, src]) => safeUrl(src ?? null)).map(([className, src]) =>
    Object.assign(document.createElement('img'), { className, src, alt: '', loading: 'lazy', referrerPolicy: 'no-referrer' }));
}

/** @param {string} tag @param {string} className @param {string} text */
export function el(tag, className, text) {
  return Object.assign(document.createElement(tag), { className, textContent: text });
}

/** @param {string} className @param {string} text @param {string} label @param {Record<string, string>} [attributes] */
export function button(className, text, label, attributes = {}) {
  const node = el('button', className, text);
  for (const [name, value] of Object.entries({ type: 'button', 'aria-label': label, ...attributes })) node.setAttribute(name, value);
  return node;
}
