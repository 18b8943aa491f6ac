/** The bell's preferences: pause, quiet hours every day, channels per category (docs/preferences.md). */
import { EN } from './i18n.js';
import { el } from './list.js';
import { request } from './presence.js';

/** @typedef {{ quietHours: { start: string, end: string }[], dndUntil: string | null, quietUntil: string | null,
 *   categories: Record<string, Record<string, boolean>>, effective: { category: string, critical: boolean,
 *   channels: Record<string, boolean> }[] }} View  GET /api/preferences */

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
/** What each checkbox sets: the mobile one covers both phone channels. */
const CHANNELS = { inApp: ['inApp'], push: ['webPush'], mobile: ['fcm', 'apns'] };
const CSS = `.prefsbox{padding:.5rem .75rem;border-bottom:1px solid var(--line)}.prefsbox h3{margin:0;font-size:14px}
.prefsbox p{margin:.25rem 0;color:var(--muted)}.prefsbox fieldset{display:flex;flex-wrap:wrap;gap:0 .75rem;margin:.5rem 0 0;
padding:0;border:0}.prefsbox legend{padding:0;font-weight:600}.prefsbox button{margin:.25rem .25rem 0 0}`;

export class Prefs {
  /** @type {View | null} */
  view = null;
  /** The bell's language (i18n.js). */
  s = EN;

  /** @param {HTMLElement} box @param {() => import('./api.js').Api | undefined} api */
  constructor(box, api) {
    this.box = box;
    this.api = api;
    box.onchange = () => this.#save();
  }

  /** Show (loading them) or hide. */
  async toggle() {
    this.box.hidden = !this.box.hidden;
    const api = this.api();
    if (!this.box.hidden && api) this.#render(await request(api, 'GET', '/api/preferences'));
  }

  /** @param {View} view */
  #render(view) {
    this.view = view;
    const { box, s } = this;
    box.replaceChildren(Object.assign(document.createElement('style'), { textContent: CSS }), el('h3', '', s.t('prefs')),
      (this.status = el('p', '', '')));
    this.#status();
    /** @param {string} text @param {() => Date | null} until */
    const pause = (text, until) => {
      const b = el('button', '', text);
      b.type = 'button';
      b.onclick = () => this.#save(until());
      box.append(b);
    };
    pause(s.t('pause1h'), () => new Date(Date.now() + 3600e3));
    pause(s.t('pauseTomorrow'), () => {
      const d = new Date();
      d.setDate(d.getDate() + 1);
      d.setHours(8, 0, 0, 0);
      return d;
    });
    pause(s.t('resume'), () => null);
    const quiet = view.quietHours[0];
    const hours = this.#group(s.t('quietDaily'));
    hours.append(this.#check(s.t('on'), !!quiet, 'q'), this.#time(s.t('from'), quiet?.start ?? '22:00', 'qs'),
      this.#time(s.t('to'), quiet?.end ?? '07:00', 'qe'));
    if (!view.effective.length) box.append(el('p', '', s.t('noCategories')));
    for (const { category, critical, channels } of view.effective) {
      const group = this.#group(critical ? `${category} ${s.t('alwaysOn')}` : category);
      for (const [key, names] of Object.entries(CHANNELS)) {
        const box = this.#check(s.t(key), names.some((n) => channels[n]), key);
        box.querySelector('input')?.toggleAttribute('disabled', critical);
        box.dataset.category = category;
        group.append(box);
      }
    }
  }

  #status() {
    const until = this.view?.quietUntil;
    /** @type {HTMLElement} */ (this.status).textContent = until
      ? this.s.t('quietUntil') + new Date(until).toLocaleString(this.s.lang, { weekday: 'short', hour: '2-digit', minute: '2-digit' })
      : this.s.t('notificationsOn');
  }

  /** @param {string} legend */
  #group(legend) {
    const set = el('fieldset', '', '');
    set.append(el('legend', '', legend));
    this.box.append(set);
    return set;
  }

  /** @param {string} text @param {boolean} on @param {string} name */
  #check(text, on, name) {
    const label = el('label', '', '');
    const input = Object.assign(document.createElement('input'), { type: 'checkbox', checked: on, name });
    label.append(input, ` ${text}`);
    return label;
  }

  /** @param {string} text @param {string} value @param {string} name */
  #time(text, value, name) {
    const label = el('label', '', `${text} `);
    label.append(Object.assign(document.createElement('input'), { type: 'time', value, name, required: true }));
    return label;
  }

  /** Everything as shown, and do not disturb as given (or kept). @param {Date | null} [dnd] */
  async #save(dnd) {
    const view = this.view;
    const api = this.api();
    if (!view || !api) return;
    /** @param {string} name */
    const input = (name) => /** @type {HTMLInputElement} */ (this.box.querySelector(`[name="${name}"]`));
    const categories = { ...view.categories };
    for (const label of this.box.querySelectorAll('label[data-category]')) {
      const box = /** @type {HTMLInputElement} */ (label.querySelector('input'));
      const category = /** @type {string} */ (/** @type {HTMLElement} */ (label).dataset.category);
      if (box.disabled) continue;
      const own = (categories[category] = { ...categories[category] });
      for (const name of CHANNELS[/** @type {keyof CHANNELS} */ (box.name)]) own[name] = box.checked;
    }
    const [start, end] = [input('qs').value, input('qe').value];
    const body = {
      timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone, categories,
      quietHours: input('q').checked && start && end ? [{ days: DAYS, start, end }] : [],
      dndUntil: dnd === undefined ? view.dndUntil : dnd && dnd.toISOString(),
    };
    this.view = await request(api, 'PUT', '/api/preferences', body);
    this.#status();
  }
}
