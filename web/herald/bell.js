/** `<herald-bell>`: the drop-in notification center. Attributes and events: docs/web-client.md. */
import { HeraldClient } from './client.js';
import { safeUrl } from './format.js';
import { EN, langOf, load } from './i18n.js';
import { HistoryList } from './list.js';
import { Prefs } from './prefs.js';
import { CSS } from './styles.js';
import { SystemNotifier, enableDesktop, restorePush, supported } from './system.js';
import { Tabs } from './tabs.js';
import { Toasts } from './toasts.js';

/** @typedef {import('./format.js').Notification} Item */

const ICON = 'M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6v-5a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1Z';
const EVENTS = ['change', 'notification', 'read', 'retract', 'triage', 'status', 'signedout'];
const HOUR = 3600e3;
/** Keys on a focused item (docs/web-client.md). */
const KEYS = { e: 'arc', u: 'mu', r: 'read', s: 'snooze' };
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
 <nav class="tabs" aria-label="Views"></nav>
 <div class="tools">
  <label><span data-t="show"></span> <select class="filter"><option value="" data-t="allTypes"></option></select></label>
  <button type="button" class="prefs" aria-expanded="false" data-label="prefs">⚙</button>
  <button type="button" class="arcall" data-t="archiveRead"></button>
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
  #tabs = new Tabs(document.createElement('nav'), null);
  #counting = 0;
  /** The item to focus once the one the keyboard archived or snoozed has gone. */
  #focusNext = '';
  /** @type {Prefs} */
  #prefs;

  constructor() {
    super();
    this.#root.innerHTML = TEMPLATE;
    for (const name of ['bar', 'bell', 'badge', 'conn', 'panel', 'state', 'tabs', 'filter', 'all', 'arcall', 'list', 'empty', 'older', 'desktop', 'toasts', 'prefs', 'prefsbox']) {
      this.#el[name] = /** @type {HTMLElement} */ (this.#root.querySelector(`.${name}`));
    }
    this.#list = new HistoryList(/** @type {HTMLUListElement} */ (this.#el.list), /** @type {HTMLSelectElement} */ (this.#el.filter));
    this.#toasts = new Toasts(this.#el.toasts, {
      max: () => this.#number('max-toasts', 3),
      duration: (item) => this.#number('toast-duration', 6000) * (item.priority === 'high' ? 1.5 : 1),
      open: (item, event) => this.#open(item, event),
      s: () => this.#s,
      render: (item, node) => this.renderItem?.(item, node, 'toast'),
      act: (item, action) => this.#act(item, action),
    });
    this.#wire();
    const prefs = (this.#prefs = new Prefs(this.#el.prefsbox, () => this.client?.presence.api));
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
    this.#tabs.s = this.#prefs.s = s;
    this.#tabs.render();
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
      // Silent: alerts nobody; dnd: quiet hours, listed without a sound (docs/preferences.md).
      if (!alert || item.read || item.silent || item.dnd) return;
      if (item.quiet) return this.#digest();
      // Off by preferences; watched: another tab of theirs is visible (this one's report may be stale).
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
    on('triage', ({ ids, state }) => {
      if (state.archived || state.snoozedUntil || state.read) {
        for (const id of ids) this.#toasts.dismiss(id);
        this.#system.read(ids, false);
      }
    });
    on('change', () => this.#count());
    on('signedout', () => this.#toasts.clear());
    for (const type of EVENTS) on(type, (detail) => this.#emit(type, detail));
    this.#tabs = new Tabs(this.#el.tabs, this.getAttribute('tabs'));
    this.#listening = new AbortController();
    // Relative times move on; the older page loads as its button scrolls into view.
    const tick = setInterval(() => this.open && this.#render(), 30e3);
    this.#listening.signal.addEventListener('abort', () => clearInterval(tick));
    new IntersectionObserver((seen) => seen[0]?.isIntersecting && !this.#tabs.archive && client.loadOlder().catch(report))
      .observe(this.#el.older);
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
    if (!open) return;
    this.#count();
    // Seen: the list was open while they showed.
    const ids = this.#shown().filter((item) => !item.seen && !item.read).map((item) => item.id).slice(0, 500);
    if (ids.length) this.client?.triage(null, 'triage', { ids, set: { seen: true } }).catch(report);
  }

  /** Tab counts, at most one request at a time, while the panel is open. */
  #count() {
    if (!this.open || !this.client || this.#counting) return;
    this.#counting = setTimeout(() => this.#tabs.refresh(/** @type {HeraldClient} */ (this.client))
      .catch(report).finally(() => (this.#counting = 0)), 150);
  }

  #shown() {
    return this.client?.store.items.filter((item) => this.#tabs.shows(item)) ?? [];
  }

  /** @param {string} id @param {string} what  the list's button class */
  #triage(id, what) {
    const client = this.client;
    const item = client?.store.get(id);
    if (!client || !item) return;
    if (what === 'read') return client.markRead(id).catch(report);
    if (what === 'mu') return client.triage(id, 'unread').catch(report);
    if (what === 'arc') return client.triage(id, item.archived ? 'unarchive' : 'archive').catch(report);
  }

  /** @param {string} id @param {string} when  h, d or w */
  #snooze(id, when) {
    const until = new Date();
    if (when === 'h') until.setTime(until.getTime() + HOUR);
    else {
      // Tomorrow, or next Monday, at 8 in the morning here.
      until.setDate(until.getDate() + (when === 'd' ? 1 : ((8 - until.getDay()) % 7 || 7)));
      until.setHours(8, 0, 0, 0);
    }
    this.client?.triage(id, 'snooze', { until: until.getTime() }).catch(report);
  }

  #wire() {
    const { bell, panel, filter, all, arcall, desktop, older, list, tabs } = this.#el;
    bell.onclick = () => (this.open ? this.hide() : this.show());
    filter.onchange = () => this.#render();
    all.onclick = () => this.client?.markAllRead().catch(report);
    older.onclick = () => this.client?.loadOlder().catch(report);
    arcall.onclick = () => this.client?.triage(null, 'triage', { all: true, within: { read: true }, set: { archived: true } }).catch(report);
    tabs.onclick = (event) => {
      const at = /** @type {HTMLElement | null} */ (/** @type {Element} */ (event.target).closest('[data-tab]'))?.dataset.tab;
      if (at === undefined) return;
      this.#tabs.at = Number(at);
      this.#tabs.render();
      if (this.#tabs.archive) this.client?.loadArchived().catch(report);
      this.#render();
    };
    list.onchange = (event) => {
      const select = /** @type {HTMLSelectElement} */ (event.target);
      const id = /** @type {HTMLElement | null} */ (select.closest('.item'))?.dataset.id;
      if (id && select.value) this.#snooze(id, select.value);
    };
    desktop.onclick = () => enableDesktop().catch(report).finally(() => this.#render());
    list.onclick = (event) => {
      const target = /** @type {Element} */ (event.target);
      const id = /** @type {HTMLElement | null} */ (target.closest('.item'))?.dataset.id ?? '';
      const item = this.client?.store.get(id);
      if (!item) return;
      const act = /** @type {HTMLElement | null} */ (target.closest('.act'))?.dataset.act;
      const what = target.closest('.read, .mu, .arc')?.classList[0];
      if (what) this.#triage(id, what);
      else if (act) this.#act(item, act);
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

  /** Escape closes; arrows (j, k), Home, End move; e, u, r, s triage the focused item. @param {KeyboardEvent} event */
  #keydown(event) {
    const links = [...this.#el.list.querySelectorAll('.open')];
    const at = links.indexOf(/** @type {Element} */ (this.#root.activeElement));
    const id = /** @type {HTMLElement | undefined} */ (links[at]?.closest('.item'))?.dataset.id;
    const key = /** @type {keyof KEYS} */ (event.key);
    if (id && KEYS[key] && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      if (KEYS[key] === 'arc' || KEYS[key] === 'snooze') {
        this.#focusNext = /** @type {HTMLElement | undefined} */ ((links[at + 1] ?? links[at - 1])?.closest('.item'))?.dataset.id ?? '';
      }
      return KEYS[key] === 'snooze' ? this.#snooze(id, 'h') : this.#triage(id, KEYS[key]);
    }
    const next = event.key === 'Escape' ? -2 : at < 0 ? undefined
      : { ArrowDown: at + 1, ArrowUp: at - 1, j: at + 1, k: at - 1, Home: 0, End: links.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    if (next === -2) return this.hide();
    /** @type {HTMLElement} */ (links[Math.max(0, Math.min(links.length - 1, next))]).focus();
  }

  /** Mark read (as clicked) and follow the link. @param {Item} item @param {Event} [event] */
  #open(item, event) {
    const url = safeUrl(item.url);
    // keepalive: navigating away must not cut the request short.
    // A click, also on a read item: the product's backend hears `clicked` (webhooks).
    this.client?.markRead(item.id, Boolean(url), true).catch(report);
    this.#toasts.dismiss(item.id);
    // A click on a real link navigates by itself.
    if (url && !(event?.target instanceof Element && event.target.closest('a'))) location.assign(url);
  }

  /** Record the click on an action, then follow its link. @param {Item} item @param {string} id */
  #act(item, id) {
    const url = safeUrl(item.actions?.find((a) => a.id === id)?.url ?? null);
    this.client?.triage(item.id, `actions/${encodeURIComponent(id)}`).then(() => url && location.assign(url), report);
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
    empty.hidden = this.#list.render(this.#shown()) > 0;
    const next = this.#focusNext && this.#el.list.querySelector(`[data-id="${this.#focusNext}"] .open`);
    if (next) {
      /** @type {HTMLElement} */ (next).focus();
      this.#focusNext = '';
    }
    // The slot's own text: a page's slot="empty" content still wins in every view.
    /** @type {HTMLElement} */ (empty.firstElementChild).textContent =
      s.t(this.#tabs.archive ? 'emptyArchive' : this.#tabs.at < 0 ? 'empty' : 'emptyTab');
    older.hidden = client.nextBefore === null || this.#tabs.archive;
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
