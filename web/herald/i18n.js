/** Every string the center shows, per language; numbers, plurals, lists and times through Intl. */

/**
 * A plural is a map of Intl.PluralRules categories to text, `#` standing for the number.
 * @typedef {string | Partial<Record<Intl.LDMLPluralRule, string>>} Text
 * @typedef {Record<string, Text>} Table
 */

/** English, built in; the other languages are data, fetched when a page asks for one. */
const EN_TABLE = {
  title: 'Notifications', show: 'Show', allTypes: 'All types', markAll: 'Mark all read',
  markUnread: 'Mark unread', markUnreadOf: 'Mark unread: ', archive: 'Archive', archiveOf: 'Archive: ',
  unarchive: 'Unarchive', unarchiveOf: 'Unarchive: ', snoozeOf: 'Snooze: ', snooze: 'Snooze…', snoozeh: '1 hour',
  snoozed: 'Tomorrow', snoozew: 'Next week', archiveRead: 'Archive read', prefs: 'Preferences', empty: 'No notifications yet.',
  emptyArchive: 'Nothing archived.', emptyTab: 'Nothing in this tab.', tabAll: 'All',
  older: 'Load older', desktop: 'Enable desktop notifications', connected: 'Live', reconnecting: 'Reconnecting…',
  disconnected: 'Offline', connecting: 'Connecting…', signedOut: 'Signed out', unreadPrefix: 'Unread: ',
  bellNone: 'Notifications, no unread', bell: { other: 'Notifications, # unread' },
  digest: { one: '# new notification', other: '# new notifications' },
  others: { one: '# other', other: '# others' }, count: { one: '# notification', other: '# notifications' },
  and: '$1 and $2', details: 'Details', hide: 'Hide', showWho: 'Show who: ', hideWho: 'Hide who: ',
  pause1h: 'Pause 1 hour', pauseTomorrow: 'Pause until tomorrow', resume: 'Resume', quietDaily: 'Quiet hours, every day',
  on: 'On', from: 'From', to: 'To', noCategories: 'No categories yet.', alwaysOn: '(always on)', quietUntil: 'Quiet until ',
  notificationsOn: 'Notifications on', inApp: 'In-app', push: 'Push', mobile: 'Mobile',
  markRead: 'Mark read', markReadOf: 'Mark read: ', dismiss: 'Dismiss: ', urgent: 'Urgent: ', high: 'Important: ',
};
/** Shipped in ./locales/<lang>.json; a table with `"dir": "rtl"` lays out right to left. */
export const LOCALES = ['en', 'de', 'ar'];

/** One language's strings and formatters. */
export class Strings {
  /** @param {string} lang  a BCP 47 tag @param {Table} table */
  constructor(lang, table) {
    this.lang = lang;
    this.table = table;
    this.dir = table.dir === 'rtl' ? 'rtl' : 'ltr';
    this.plurals = new Intl.PluralRules(this.lang);
    this.number = new Intl.NumberFormat(this.lang);
    this.relative = new Intl.RelativeTimeFormat(this.lang, { numeric: 'auto' });
    this.list = new Intl.ListFormat(this.lang);
    this.date = new Intl.DateTimeFormat(this.lang, { dateStyle: 'medium', timeStyle: 'short' });
  }

  /** A string by key; `n` picks the plural and stands in for `#`. @param {string} key @param {number} [n] */
  t(key, n = 0) {
    const text = this.table[key] ?? EN_TABLE[key];
    if (typeof text === 'string') return text;
    const form = text[this.plurals.select(n)] ?? text.other ?? '';
    return form.replace('#', this.number.format(n));
  }

}

/** The language an element asks for: its nearest `lang`, else the document's, else the browser's. @param {Element} element */
export const langOf = (element) =>
  element.closest('[lang]')?.getAttribute('lang') || document.documentElement.lang || navigator.language || 'en';

export const EN = new Strings('en', EN_TABLE);
/** @type {Map<string, Promise<Strings>>} */
const loading = new Map([['en', Promise.resolve(EN)]]);

/** A language's strings, each table fetched once; English for a language not shipped or not reachable. @param {string} lang */
export function load(lang) {
  const base = lang.toLowerCase().split('-')[0];
  if (base === 'en' || !LOCALES.includes(base)) return /** @type {Promise<Strings>} */ (loading.get('en'));
  let strings = loading.get(lang);
  if (!strings) {
    strings = fetch(new URL(`locales/${base}.json`, import.meta.url))
      .then(async (response) => new Strings(lang, response.ok ? await response.json() : EN_TABLE), () => EN);
    loading.set(lang, strings);
  }
  return strings;
}
