// @ts-check
/**
 * Web Push in the page: register Herald's service worker, subscribe and
 * unsubscribe, and tell the worker when items were read so that it closes
 * their system notifications.
 *
 * Same origin as Herald: a service worker (and so a push subscription) always
 * belongs to the origin that serves /sw.js.
 *
 * Typical use:
 *   registerServiceWorker();                       // on load; harmless without permission
 *   button.onclick = () => enablePush();           // only from a user gesture
 *   stream.on('read', ({ids, all}) => notifyRead(all ? 'all' : ids));
 *   await disablePush(); await fetch('/api/session', {method: 'DELETE'});   // logout, in this order
 */

const SCOPE = '/';
const SUBSCRIPTIONS = '/api/push/subscriptions';

/** @returns {boolean} whether this browser can receive Web Push at all */
export function pushSupported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

/**
 * Register /sw.js with root scope. When permission was granted earlier, also
 * re-subscribe if the server's VAPID key changed (`herald vapid --rotate`);
 * that needs no gesture, since no permission prompt is shown.
 * @returns {Promise<ServiceWorkerRegistration | null>}
 */
export async function registerServiceWorker() {
  if (!pushSupported()) return null;
  const registration = await navigator.serviceWorker.register('/sw.js', { scope: SCOPE });
  if (Notification.permission === 'granted') {
    const current = await registration.pushManager.getSubscription();
    if (current) {
      const key = await vapidKey();
      if (!sameKey(current, key)) await subscribe(registration, key, current);
    }
  }
  return registration;
}

/**
 * Ask for permission and subscribe this browser. Call only from a user gesture
 * (a click): browsers ignore or penalise permission prompts without one.
 * @returns {Promise<{ok: true, subscription: PushSubscription} | {ok: false, reason: string}>}
 */
export async function enablePush() {
  if (!pushSupported()) return { ok: false, reason: 'unsupported' };
  // Ask first, while the gesture is still fresh; registering can take a while.
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') return { ok: false, reason: permission };
  await navigator.serviceWorker.register('/sw.js', { scope: SCOPE });
  const registration = await navigator.serviceWorker.ready;
  const key = await vapidKey();
  const current = await registration.pushManager.getSubscription();
  const subscription = current && sameKey(current, key) ? current : await subscribe(registration, key, current);
  if (subscription === current) await save(subscription);
  return { ok: true, subscription };
}

/**
 * Unsubscribe this browser and forget it on the server. Call on logout, before
 * the session is cleared (the DELETE needs it). Also closes this user's
 * system notifications: the next user of this browser must not see them.
 */
export async function disablePush() {
  if (!pushSupported()) return;
  const registration = await navigator.serviceWorker.getRegistration(SCOPE);
  if (!registration) return;
  notifyRead('all');
  const subscription = await registration.pushManager.getSubscription();
  if (!subscription) return;
  await fetch(SUBSCRIPTIONS, {
    method: 'DELETE', credentials: 'include', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ endpoint: subscription.endpoint }),
  });
  await subscription.unsubscribe();
}

/**
 * Items were read (here, or on another tab or device: the stream's `read`
 * event): close their system notifications.
 * @param {string[] | 'all'} ids
 */
export function notifyRead(ids) {
  if (!('serviceWorker' in navigator)) return;
  const message = ids === 'all' ? { type: 'herald:read', all: true } : { type: 'herald:read', ids: [...ids] };
  // The active worker, even when this page is not (yet) controlled by it.
  navigator.serviceWorker.getRegistration(SCOPE).then((registration) => {
    const worker = registration && registration.active;
    if (worker) worker.postMessage(message);
  });
}

/** @returns {Promise<Uint8Array>} */
async function vapidKey() {
  const response = await fetch('/api/push/vapid-public-key');
  if (!response.ok) throw new Error(`Herald did not give its push key (${response.status})`);
  const { publicKey } = await response.json();
  return base64urlToBytes(publicKey);
}

/**
 * @param {ServiceWorkerRegistration} registration
 * @param {Uint8Array} key
 * @param {PushSubscription | null} previous subscribed with another key: dropped here and on the server
 */
async function subscribe(registration, key, previous) {
  if (previous) {
    await previous.unsubscribe();
    await fetch(SUBSCRIPTIONS, {
      method: 'DELETE', credentials: 'include', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ endpoint: previous.endpoint }),
    });
  }
  const subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  await save(subscription);
  return subscription;
}

/** @param {PushSubscription} subscription */
async function save(subscription) {
  const response = await fetch(SUBSCRIPTIONS, {
    method: 'POST', credentials: 'include', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(subscription.toJSON()),
  });
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new Error(problem.message || `Herald refused the push subscription (${response.status})`);
  }
}

/**
 * @param {PushSubscription} subscription
 * @param {Uint8Array} key
 */
function sameKey(subscription, key) {
  const current = subscription.options.applicationServerKey;
  if (!current) return false;
  const bytes = new Uint8Array(current);
  return bytes.length === key.length && bytes.every((value, i) => value === key[i]);
}

/** @param {string} text */
function base64urlToBytes(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));
}
