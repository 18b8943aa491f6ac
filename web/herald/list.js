/** The dropdown's rows, kept per id so focus and open groups survive updates. Values go in as text. */
import { ago, groupMembers, groupTitle, safeUrl } from './format.js';

/** @typedef {import('./format.js').Notification} Item */

export class HistoryList {
  /** @type {Map<string, HTMLLIElement>} */
  #rows = new Map();
  /** @type {Set<string>} groups whose members show */
  expanded = new Set();

  /** @param {HTMLUListElement} list @param {HTMLSelectElement} filter */
  constructor(list, filter) {
    this.list = list;
    this.filter = filter;
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
    const key = `${item.groupCount}|${item.timestamp}|${item.read}|${expanded}|${ago(item.timestamp)}|${item.archived}|${item.action}`;
    let row = this.#rows.get(item.id);
    if (row?.dataset.key === key) return row;
    row ??= document.createElement('li');
    this.#rows.set(item.id, row);
    row.className = item.read ? 'item' : 'item unread';
    Object.assign(row.dataset, { id: item.id, priority: item.priority, key });
    const { text, more } = groupTitle(item);
    const url = safeUrl(item.url);
    // A real link when there is a url: middle-click and the like keep working.
    const open = el(url ? 'a' : 'button', 'open', '');
    open.setAttribute(url ? 'href' : 'type', url ?? 'button');
    const title = el('span', 'title', text);
    if (!item.read) title.prepend(el('span', 'sr', 'Unread: '));
    const when = el('time', '', ago(item.timestamp));
    when.setAttribute('datetime', new Date(item.timestamp).toISOString());
    open.append(title, ...(more ? [el('span', 'more', more)] : []), ...(item.body ? [el('span', 'body', item.body)] : []), when);
    const actions = el('div', 'actions', '');
    const children = [open, actions];
    if (item.groupCount > 1) {
      const word = expanded ? 'Hide' : 'Show';
      actions.append(button('expand', expanded ? 'Hide' : 'Details', `${word} who: ${text}`, { 'aria-expanded': String(expanded) }));
      if (expanded) children.push(el('p', 'members', groupMembers(item)));
    }
    actions.append(item.read ? button('mu', 'Mark unread', `Mark unread: ${text}`) : button('read', 'Mark read', `Mark read: ${text}`),
      button('arc', item.archived ? 'Unarchive' : 'Archive', `${item.archived ? 'Unarchive' : 'Archive'}: ${text}`));
    if (!item.archived) {
      const snooze = el('select', 'snooze', '');
      snooze.setAttribute('aria-label', `Snooze: ${text}`);
      snooze.append(...[['', 'Snooze…'], ['h', '1 hour'], ['d', 'Tomorrow'], ['w', 'Next week']].map(([v, t]) => new Option(t, v)));
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
    return row;
  }
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
