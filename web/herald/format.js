/** How a notification reads: group titles, member lists, times, safe links, the body's markdown. */
import { EN } from './i18n.js';

/**
 * @typedef {'urgent' | 'high' | 'medium' | 'low'} Priority
 * @typedef {{ id: string, type: string, title: string, body: string, priority: Priority, timestamp: number,
 *   read: boolean, groupKey: string | null, url: string | null, data: Record<string, unknown> | null,
 *   groupCount: number, actors: string[] | null, quiet?: boolean, silent?: boolean, dnd?: boolean,
 *   toast?: boolean, system?: boolean, watched?: string[], replaceKey?: string, avatarUrl?: string,
 *   imageUrl?: string, category?: string, seen?: boolean, archived?: boolean, snoozedUntil?: number,
 *   action?: string, broadcast?: boolean, actions?: { id: string, label: string, url?: string, style?: string }[] }} Notification
 */

/** @typedef {import('./i18n.js').Strings} Strings */

/** Lower shows first, as on the server. */
export const RANK = { urgent: 0, high: 1, medium: 2, low: 3 };

/**
 * "Anna and 4 others liked your post" when the newest actor starts the title,
 * else the title with `more` ("+4") to show beside it.
 * @param {Notification} item @param {Strings} [s]
 */
export function groupTitle(item, s = EN) {
  const n = item.groupCount - 1;
  const actor = item.actors?.[0];
  if (n < 1) return { text: item.title, more: '' };
  if (actor && item.title.startsWith(actor)) {
    return { text: s.t('and').replace('$1', () => actor).replace('$2', () => s.t('others', n)) + item.title.slice(actor.length), more: '' };
  }
  return { text: item.title, more: `+${s.number.format(n)}` };
}

/** Who is in a group: "Eve, Dan, Cara, and 2 others". @param {Notification} item @param {Strings} [s] */
export function groupMembers(item, s = EN) {
  const actors = item.actors ?? [];
  const rest = item.groupCount - actors.length;
  if (!actors.length) return s.t('count', item.groupCount);
  return s.list.format(rest > 0 ? [...actors, s.t('others', rest)] : actors);
}

/** @param {number} ms @param {number} [now] @param {Strings} [s] */
export function ago(ms, now = Date.now(), s = EN) {
  const sec = Math.round((ms - now) / 1000);
  for (const [unit, size] of /** @type {const} */ ([['day', 86400], ['hour', 3600], ['minute', 60]])) {
    if (Math.abs(sec) >= size) return s.relative.format(Math.round(sec / size), unit);
  }
  return s.relative.format(0, 'second');
}

// Markdown subset: **strong**, *em*, `code`, [label](url). Bounded: no input backtracks for long.
const MARKS = /\*\*([^]{1,1000}?)\*\*|\*([^*\s][^*]{0,999}?)\*|`([^`]{1,1000})`|\[([^\]]{1,500})\]\(([^()\s]{1,2048})\)/g;
const LINKABLE = /^(https?:|mailto:)/i;

/**
 * The body as DOM nodes: marks become elements, everything else (HTML included) stays text.
 * Links only for http(s) and mailto; any other scheme shows as the text it was.
 * @param {string} text @param {number} [depth] @returns {(Node | string)[]}
 */
export function rich(text, depth = 0) {
  /** @type {(Node | string)[]} */
  const out = [];
  let at = 0;
  for (const match of depth > 2 ? [] : text.matchAll(MARKS)) {
    const [all, strong, em, code, label, href] = match;
    out.push(text.slice(at, match.index));
    at = /** @type {number} */ (match.index) + all.length;
    const inner = strong ?? em ?? label;
    if (code) out.push(tag('code', [code]));
    else if (href && !LINKABLE.test(href)) out.push(all);
    else {
      const node = tag(strong ? 'strong' : em ? 'em' : 'a', rich(inner, depth + 1));
      if (href) Object.assign(node, { href, rel: 'noopener noreferrer', target: '_blank' });
      out.push(node);
    }
  }
  out.push(text.slice(at));
  return out.filter((part) => part !== '');
}

/** The body without its marks, for system notifications: `[label](url)` reads as the label. @param {string} text */
export const plain = (text) => text.replace(MARKS, (_, strong, em, code, label) => code ?? plain(strong ?? em ?? label));

/** @param {string} name @param {(Node | string)[]} children */
function tag(name, children) {
  const node = document.createElement(name);
  node.append(...children);
  return node;
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
