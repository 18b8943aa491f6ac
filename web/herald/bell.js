/** `<herald-bell>`: the drop-in notification center. Attributes and events: docs/web-client.md. */
import { HeraldClient } from './client.js';
import { safeUrl } from './format.js';
import { EN, langOf, load } from './i18n.js';
import { HistoryList } from './list.js';
import { Prefs } from './prefs.js';
import { CSS } from './styles.js';
import { SystemNotifier, enableDesktop, restorePush, supported } from './system.js';
import { Toasts } from './toasts.js';

/** @typedef {import('./format.js').Notification} Item */

const ICON = 'M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6v-5a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1Z';
const EVENTS = ['change', 'notification', 'read', 'retract', 'status', 'signedout'];
const DIGEST = 'herald:digest';

// Static markup only: notification values are set later, as text.
const TEMPLATE = `<style>${CSS}</style>
<div class="bar">
 <button class="bell" type="button" aria-expanded="false" aria-controls="panel">
  <svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="${ICON}"/></svg>
  <span class="badge" aria-hidden="true" hidden></span>
 </button>
 <span class="conn" role="status"></span>
</div>
<section class="panel" id="panel" aria-labelledby="heading" tabindex="-1" hidden>
 <header><h2 id="heading"><slot name="header" data-t="title"></slot></h2><span class="state"></span></header>
 <div class="tools">
  <label><span data-t="show"></span> <select class="filter"><option value="" data-t="allTypes"></option></select></label>
  <button type="button" class="prefs" aria-expanded="false" data-label="prefs">⚙</button>
  <button type="button" class="all" data-t="markAll"></button>
 </div>
 <div class="prefsbox" hidden></div>
 <ul class="list" aria-labelledby="heading"></ul>
 <p class="empty"><slot name="empty" data-t="empty"></slot></p>
 <button type="button" class="older" data-t="older" hidden></button>
 <button type="button" class="desktop" data-t="desktop" hidden></button>
</section>
<div class="toasts" aria-live="polite"></div>`;

export class HeraldBell extends HTMLElement {
  /** @type {HeraldClient | null} */
  client = null;
  #root = this.attachShadow({ mode: 'open' });
  /** @type {Record<string, HTMLElement>} */
  #el = {};
  #queued = false;
  #unread = -1;
  /** Before the first connection, "reconnecting" is just connecting. */
  #wasLive = false;
  /** @type {AbortController | undefined} */
  #listening;
  #toasts;
  #list;
  #system = new SystemNotifier((item) => this.#open(item));
  /** Quiet items not yet in the digest toast, and those in it. */
  #quiet = 0;
  #digested = 0;
  #digestTimer = 0;
  #s = EN;
  static observedAttributes = ['lang'];

  /** The page's own look for an item: `(item, defaultNode, 'list' | 'toast') => Node` (docs/web-client.md). */
  get renderItem() {
    return this.#list.renderItem;
  }

  set renderItem(hook) {
    this.#list.renderItem = hook;
    this.#list.refresh();
    this.#render();
  }

  constructor() {
    super();
    this.#root.innerHTML = TEMPLATE;
    for (const name of ['bar', 'bell', 'badge', 'conn', 'panel', 'state', 'filter', 'all', 'list', 'empty', 'older', 'desktop', 'toasts', 'prefs', 'prefsbox']) {
      this.#el[name] = /** @type {HTMLElement} */ (this.#root.querySelector(`.${name}`));
    }
    this.#list = new HistoryList(/** @type {HTMLUListElement} */ (this.#el.list), /** @type {HTMLSelectElement} */ (this.#el.filter));
    this.#toasts = new Toasts(this.#el.toasts, {
      max: () => this.#number('max-toasts', 3),
      duration: (item) => this.#number('toast-duration', 6000) * (item.priority === 'high' ? 1.5 : 1),
      open: (item, event) => this.#open(item, event),
      s: () => this.#s,
      render: (item, node) => this.renderItem?.(item, node, 'toast'),
    });
    this.#wire();
    const prefs = new Prefs(this.#el.prefsbox, () => this.client?.presence.api);
    this.#el.prefs.onclick = () => prefs.toggle().catch(report).finally(() =>
      this.#el.prefs.setAttribute('aria-expanded', String(!this.#el.prefsbox.hidden)));
  }

  attributeChangedCallback() {
    this.#localize();
  }

  /** Strings and direction from the nearest `lang` (docs/web-client.md, "Languages"). */
  #localize() {
    const lang = langOf(this);
    load(lang).then((s) => langOf(this) === lang && this.#apply(s));
  }

  /** The page's own `dir` wins. @param {import('./i18n.js').Strings} s */
  #apply(s) {
    this.#s = s;
    for (const name of ['bar', 'panel', 'toasts']) this.#el[name].dir = this.hasAttribute('dir') ? '' : s.dir;
    for (const node of this.#root.querySelectorAll('[data-t]')) node.textContent = s.t(/** @type {HTMLElement} */ (node).dataset.t ?? '');
    // Icon-only buttons: the name is the label (and the tooltip), in the bell's language.
    for (const node of this.#root.querySelectorAll('[data-label]')) {
      const label = s.t(/** @type {HTMLElement} */ (node).dataset.label ?? '');
      node.setAttribute('aria-label', label);
      node.setAttribute('title', label);
    }
    this.#list.s = s;
    this.#list.refresh();
    this.#render();
  }

  connectedCallback() {
    this.#localize();
    if (this.client) return;
    const client = (this.client = new HeraldClient({
      base: this.getAttribute('base') ?? '', pageSize: this.#number('page-size', 20), transport: this.getAttribute('transport'),
    }));
    /** @param {string} type @param {(detail: any) => void} handle */
    const on = (type, handle) => client.addEventListener(type, (event) => handle(/** @type {CustomEvent} */ (event).detail));
    on('change', () => this.#schedule());
    on('status', () => this.#schedule());
    on('notification', ({ item, alert }) => {
      // Silent: a state update that alerts nobody; dnd: quiet hours, listed without a sound (docs/preferences.md).
      if (!alert || item.read || item.silent || item.dnd) return;
      if (item.quiet) return this.#digest();
      // Off by the user's preferences; watched: another tab of theirs is visible (this one's own report may be stale).
      if (item.toast !== false) this.#toasts.show(item);
      if (item.system !== false && !item.watched?.some((id) => id !== this.client?.presence.id)) this.#system.show(item, this.#s);
    });
    on('read', ({ ids, all }) => {
      for (const id of ids) this.#toasts.dismiss(id);
      this.#system.read(ids, all);
    });
    on('retract', ({ ids }) => {
      for (const id of ids) this.#toasts.dismiss(id);
      this.#system.read(ids, false); // closes them here and in the worker
    });
    on('signedout', () => this.#toasts.clear());
    for (const type of EVENTS) on(type, (detail) => this.#emit(type, detail));
    this.#listening = new AbortController();
    document.addEventListener('pointerdown', (event) => event.composedPath().includes(this) || this.hide(false),
      { signal: this.#listening.signal });
    client.start();
    restorePush();
  }

  disconnectedCallback() {
    this.#listening?.abort();
    this.client?.stop();
    this.client = null;
  }

  /** Start over with the current session (after the page signed in or out). */
  restart() {
    this.#wasLive = false;
    this.#toasts.clear();
    this.client?.restart();
  }

  get open() {
    return !this.#el.panel.hidden;
  }

  /** Open the dropdown and move focus into it (click and keyboard alike). */
  show() {
    this.#toggle(true);
    /** @type {HTMLElement} */ (this.#el.list.querySelector('.open') ?? this.#el.panel).focus();
  }

  /** @param {boolean} [returnFocus]  to the bell, if focus was inside */
  hide(returnFocus = true) {
    if (!this.open) return;
    const inside = this.#el.panel.contains(this.#root.activeElement);
    this.#toggle(false);
    if (returnFocus && inside) this.#el.bell.focus();
  }

  /** @param {boolean} open */
  #toggle(open) {
    this.#el.panel.hidden = !open;
    this.#el.bell.setAttribute('aria-expanded', String(open));
    this.#render();
  }

  #wire() {
    const { bell, panel, filter, all, desktop, older, list } = this.#el;
    bell.onclick = () => (this.open ? this.hide() : this.show());
    filter.onchange = () => this.#render();
    all.onclick = () => this.client?.markAllRead().catch(report);
    older.onclick = () => this.client?.loadOlder().catch(report);
    desktop.onclick = () => enableDesktop().catch(report).finally(() => this.#render());
    list.onclick = (event) => {
      const target = /** @type {Element} */ (event.target);
      const id = /** @type {HTMLElement | null} */ (target.closest('.item'))?.dataset.id ?? '';
      const item = this.client?.store.get(id);
      if (!item) return;
      if (target.closest('.read')) this.client?.markRead(id).catch(report);
      else if (target.closest('.open')) this.#open(item, event);
      else if (target.closest('.expand')) {
        if (!this.#list.expanded.delete(id)) this.#list.expanded.add(id);
        this.#render();
      }
    };
    panel.onkeydown = (event) => this.#keydown(event);
    // Focus leaving closes the dropdown, and stays where the user put it.
    this.#root.addEventListener('focusout', (event) => {
      const to = /** @type {Node | null} */ (/** @type {FocusEvent} */ (event).relatedTarget);
      if (to && to !== this && !this.#root.contains(to)) this.hide(false);
    });
  }

  /** Escape closes; arrows, Home and End move between items. @param {KeyboardEvent} event */
  #keydown(event) {
    const links = [...this.#el.list.querySelectorAll('.open')];
    const at = links.indexOf(/** @type {Element} */ (this.#root.activeElement));
    const next = event.key === 'Escape' ? -2 : at < 0 ? undefined
      : { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: links.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    if (next === -2) return this.hide();
    /** @type {HTMLElement} */ (links[Math.max(0, Math.min(links.length - 1, next))]).focus();
  }

  /** Mark read and follow the link. @param {Item} item @param {Event} [event] */
  #open(item, event) {
    const url = safeUrl(item.url);
    // keepalive: navigating away must not cut the request short.
    if (!item.read) this.client?.markRead(item.id, Boolean(url)).catch(report);
    this.#toasts.dismiss(item.id);
    // A click on a real link navigates by itself.
    if (url && !(event?.target instanceof Element && event.target.closest('a'))) location.assign(url);
  }

  /** One toast counts the quiet items, updated in place at most every half second. */
  #digest() {
    this.#quiet++;
    this.#digestTimer ||= setTimeout(() => {
      this.#digestTimer = 0;
      if (!this.#toasts.has(DIGEST)) this.#digested = 0;
      const n = (this.#digested += this.#quiet);
      this.#quiet = 0;
      this.#toasts.show(/** @type {Item} */ ({ id: DIGEST, title: this.#s.t('digest', n), body: '',
        priority: 'medium', groupCount: 1, url: null }));
    }, 500);
  }

  #schedule() {
    if (this.#queued) return;
    this.#queued = true;
    queueMicrotask(() => {
      this.#queued = false;
      this.#render();
    });
  }

  #render() {
    const client = this.client;
    if (!client) return;
    const unread = client.store.unreadCount;
    const status = client.signedOut ? 'disconnected' : client.status;
    this.#wasLive ||= status === 'connected';
    const s = this.#s;
    const text = s.t(client.signedOut ? 'signedOut' : this.#wasLive || status !== 'reconnecting' ? status : 'connecting');
    const { bell, badge, conn, state, empty, older, desktop } = this.#el;
    this.dataset.status = status;
    bell.setAttribute('aria-label', unread ? s.t('bell', unread) : s.t('bellNone'));
    badge.hidden = !unread;
    badge.textContent = unread > 99 ? `${s.number.format(99)}+` : s.number.format(unread);
    state.textContent = text;
    conn.textContent = status === 'disconnected' || (this.#wasLive && status !== 'connected') ? text : '';
    if (unread !== this.#unread) this.#emit('unread', { count: (this.#unread = unread) });
    if (!this.open) return;
    empty.hidden = this.#list.render(client.store.items) > 0;
    older.hidden = client.nextBefore === null;
    desktop.hidden = !supported() || Notification.permission !== 'default';
  }

  /** @param {string} type @param {unknown} detail */
  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(`herald:${type}`, { detail, bubbles: true, composed: true }));
  }

  /** @param {string} name @param {number} fallback */
  #number(name, fallback) {
    return Number(this.getAttribute(name)) || fallback;
  }
}

/** @param {unknown} error */
function report(error) {
  console.warn('herald:', error);
}
