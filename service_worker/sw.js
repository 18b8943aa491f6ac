// @ts-check
/// <reference lib="webworker" />
/**
 * Herald's service worker, served from /sw.js so that its scope is the whole app.
 *
 * - push: show the notification, unless a visible tab of the app is open (that
 *   tab's notification center shows it, so the worker only hands it over).
 *   `tag` is the replaceKey, else the groupKey, else the item id, so a repeat or a newer
 *   version replaces instead of stacking.
 * - push {kind: "retract", ids}: those items were retracted or expired; close their
 *   notifications (a tab that is open hears it on its stream and tells the worker).
 * - notificationclick: focus the tab already showing the item's url (or any tab
 *   when it has none), else open the url; then mark the item read. A click on one of
 *   the item's `actions` buttons records that action instead (which marks it read too)
 *   and opens the action's url, if it has one.
 * - message {type: "herald:read", ids | all}: items were read elsewhere; close
 *   their system notifications (web/push.js `notifyRead`).
 *
 * A classic script, not a module: module service workers are not in every browser yet.
 */

const sw = /** @type {ServiceWorkerGlobalScope} */ (/** @type {unknown} */ (self));
const DEFAULT_TITLE = 'Herald';

/**
 * @typedef {{id: string, title: string, body: string, priority: string, timestamp: number,
 *   groupKey: string | null, url: string | null, groupCount?: number, replaceKey?: string, silent?: boolean,
 *   avatarUrl?: string, imageUrl?: string,
 *   actions?: {id: string, label: string, url?: string}[]}} Item
 * @typedef {{kind: 'notification', icon: string | null, notification: Item}} PushMessage
 */

sw.addEventListener('install', () => {
  // A new version takes over at once: the handlers have no state to migrate.
  sw.skipWaiting();
});

sw.addEventListener('activate', (event) => {
  event.waitUntil(sw.clients.claim());
});

sw.addEventListener('push', (event) => {
  event.waitUntil(onPush(event.data));
});

sw.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(onNotificationClick(event.notification, event.action));
});

sw.addEventListener('message', (event) => {
  const message = event.data;
  if (message && message.type === 'herald:read') {
    event.waitUntil(closeNotifications(message.all ? null : message.ids));
  }
});

sw.addEventListener('pushsubscriptionchange', (event) => {
  // Fired when the push service renews a subscription; without this the user silently stops getting pushes.
  const change = /** @type {ExtendableEvent & {oldSubscription?: PushSubscription, newSubscription?: PushSubscription}} */ (event);
  event.waitUntil(resubscribe(change.oldSubscription, change.newSubscription));
});

/** @param {PushMessageData | null} data */
async function onPush(data) {
  const retract = parseRetract(data);
  if (retract) {
    await closeNotifications(retract);
    return;
  }
  const message = parse(data);
  if (!message) {
    // Not one of Herald's (a DevTools test push, say): browsers require something visible for every push.
    await sw.registration.showNotification(DEFAULT_TITLE, { body: data ? data.text() : '' });
    return;
  }
  const item = message.notification;
  const visible = (await windows()).filter((client) => client.visibilityState === 'visible');
  if (visible.length) {
    for (const client of visible) client.postMessage({ type: 'herald:push', notification: item });
    return;
  }
  await sw.registration.showNotification(titleOf(item), optionsFor(item, message.icon));
}

/**
 * @param {PushMessageData | null} data
 * @returns {PushMessage | null}
 */
function parse(data) {
  if (!data) return null;
  try {
    const message = data.json();
    const item = message && message.kind === 'notification' ? message.notification : null;
    return item && typeof item.id === 'string' && typeof item.title === 'string' ? message : null;
  } catch {
    return null;
  }
}

/**
 * @param {PushMessageData | null} data
 * @returns {string[] | null} the ids of a retract push
 */
function parseRetract(data) {
  try {
    const message = data ? data.json() : null;
    return message && message.kind === 'retract' && Array.isArray(message.ids) ? message.ids.map(String) : null;
  } catch {
    return null;
  }
}

// The body's markdown marks (web/herald/format.js), dropped: a system notification shows plain text.
const MARKS = /\*\*([^]{1,1000}?)\*\*|\*([^*\s][^*]{0,999}?)\*|`([^`]{1,1000})`|\[([^\]]{1,500})\]\(([^()\s]{1,2048})\)/g;
/** @param {string} text @returns {string} */
const plain = (text) => text.replace(MARKS, (_, strong, em, code, label) => code ?? plain(strong ?? em ?? label));

/** @param {Item} item */
function titleOf(item) {
  return item.groupCount && item.groupCount > 1 ? `${item.title} (${item.groupCount})` : item.title;
}

/**
 * @param {Item} item
 * @param {string | null} icon
 * @returns {NotificationOptions & {renotify?: boolean, timestamp?: number}}
 */
function optionsFor(item, icon) {
  const loud = item.priority === 'urgent' || item.priority === 'high';
  return {
    body: plain(item.body || ''),
    // The item's own avatar when it has one (checked on publish: https on a public host), else the site's icon.
    icon: item.avatarUrl || (icon ? new URL(icon, sw.registration.scope).href : undefined),
    image: item.imageUrl || undefined,
    tag: item.replaceKey || item.groupKey || item.id,
    // A replaced notification alerts again only when it matters; otherwise it updates quietly.
    renotify: loud,
    requireInteraction: item.priority === 'urgent',
    silent: item.priority === 'low',
    timestamp: item.timestamp,
    data: item.actions ? { id: item.id, url: item.url, actions: item.actions } : { id: item.id, url: item.url },
    actions: buttons(item.actions),
  };
}

/** The item's actions as system notification buttons (the platform shows up to its maximum).
 * @param {Item['actions']} actions */
function buttons(actions) {
  return (actions || []).map((a) => ({ action: a.id, title: a.label }));
}

/** @param {Notification} notification @param {string} [action]  the button clicked, if one was */
async function onNotificationClick(notification, action) {
  const { id, actions } = notification.data || {};
  const chosen = action ? (actions || []).find((/** @type {{id: string}} */ a) => a.id === action) : null;
  const url = chosen ? chosen.url : (notification.data || {}).url;
  const target = new URL(url || '/', sw.registration.scope).href;
  const open = await windows();
  // With a url, only a tab already showing it will do; without one, any tab of the app.
  const match = url ? open.find((client) => client.url === target) : open.find((c) => c.focused) || open[0];
  // Window interaction is allowed only briefly after the click: open or focus first, then the network.
  const shown = match ? match.focus() : sw.clients.openWindow(target);
  await Promise.allSettled([shown, !id ? Promise.resolve() : chosen ? act(id, chosen.id) : clicked(id)]);
}

/** @param {string} id @param {string} action */
async function act(id, action) {
  await fetch(api(`api/notifications/${encodeURIComponent(id)}/actions/${encodeURIComponent(action)}`),
    { method: 'POST', credentials: 'include' });
}

/** Read, and the backend hears `clicked`. @param {string} id */
async function clicked(id) {
  // Same origin, so the HttpOnly session cookie goes along; a signed-out user just gets a 401.
  await fetch(api(`api/notifications/${encodeURIComponent(id)}/click`), { method: 'POST', credentials: 'include' });
}

/** @param {string[] | null} ids null closes every notification */
async function closeNotifications(ids) {
  const wanted = ids ? new Set(ids) : null;
  for (const notification of await sw.registration.getNotifications()) {
    const data = notification.data || {};
    if (!wanted || wanted.has(data.id)) notification.close();
  }
}

/**
 * @param {PushSubscription | undefined} old
 * @param {PushSubscription | undefined} renewed
 */
async function resubscribe(old, renewed) {
  let fresh = renewed;
  if (!fresh) {
    const response = await fetch(api('api/push/vapid-public-key'));
    const { publicKey } = await response.json();
    fresh = await sw.registration.pushManager.subscribe({
      userVisibleOnly: true, applicationServerKey: base64urlToBytes(publicKey),
    });
  }
  await fetch(api('api/push/subscriptions'), {
    method: 'POST', credentials: 'include', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(fresh.toJSON()),
  });
  if (old && old.endpoint !== fresh.endpoint) {
    await fetch(api('api/push/subscriptions'), {
      method: 'DELETE', credentials: 'include', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ endpoint: old.endpoint }),
    });
  }
}

/** @returns {Promise<WindowClient[]>} */
async function windows() {
  // Uncontrolled too: a tab opened before the worker activated is still the app.
  return /** @type {WindowClient[]} */ (await sw.clients.matchAll({ type: 'window', includeUncontrolled: true }));
}

/** @param {string} path relative to the worker's scope, which is Herald's root */
function api(path) {
  return new URL(path, sw.registration.scope).href;
}

/** @param {string} text */
function base64urlToBytes(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));
}
