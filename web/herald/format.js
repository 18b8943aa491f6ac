/** How a notification reads: group titles, member lists, times, safe links. */

/**
 * @typedef {'urgent' | 'high' | 'medium' | 'low'} Priority
 * @typedef {{ id: string, type: string, title: string, body: string, priority: Priority, timestamp: number,
 *   read: boolean, groupKey: string | null, url: string | null, data: Record<string, unknown> | null,
 *   groupCount: number, actors: string[] | null, quiet?: boolean, silent?: boolean,
 *   replaceKey?: string, category?: string, seen?: boolean, archived?: boolean, snoozedUntil?: number,
 *   action?: string, actions?: { id: string, label: string, url?: string, style?: string }[] }} Notification
 */

/** Lower shows first, as on the server. */
export const RANK = { urgent: 0, high: 1, medium: 2, low: 3 };

const list = new Intl.ListFormat('en');
const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
/** @param {number} n */
const others = (n) => `${n} ${n === 1 ? 'other' : 'others'}`;

/**
 * "Anna and 4 others liked your post" when the newest actor starts the title,
 * else the title with `more` ("+4") to show beside it.
 * @param {Notification} item
 */
export function groupTitle(item) {
  const n = item.groupCount - 1;
  const actor = item.actors?.[0];
  if (n < 1) return { text: item.title, more: '' };
  if (actor && item.title.startsWith(actor)) return { text: `${actor} and ${others(n)}${item.title.slice(actor.length)}`, more: '' };
  return { text: item.title, more: `+${n}` };
}

/** Who is in a group: "Eve, Dan, Cara, and 2 others". @param {Notification} item */
export function groupMembers(item) {
  const actors = item.actors ?? [];
  const rest = item.groupCount - actors.length;
  if (!actors.length) return `${item.groupCount} notifications`;
  return list.format(rest > 0 ? [...actors, others(rest)] : actors);
}

/** @param {number} ms @param {number} [now] */
export function ago(ms, now = Date.now()) {
  const s = Math.round((ms - now) / 1000);
  for (const [unit, size] of /** @type {const} */ ([['day', 86400], ['hour', 3600], ['minute', 60]])) {
    if (Math.abs(s) >= size) return relative.format(Math.round(s / size), unit);
  }
  return relative.format(0, 'second');
}

/** The http(s) href to follow, or null; checked here too, as the client is what navigates. @param {string | null} url */
export function safeUrl(url) {
  try {
    const { protocol, href } = new URL(url ?? '', location.href);
    return url && (protocol === 'https:' || protocol === 'http:') ? href : null;
  } catch {
    return null;
  }
}
