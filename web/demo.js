/**
 * The demo page's glue. htmx posts the forms (as JSON, through json-enc);
 * this file reacts to the answers and restarts the bell when the signed-in
 * user changes. Development mode only: the demo endpoints do not exist in production.
 */

const bell = /** @type {import('./herald/bell.js').HeraldBell} */ (document.querySelector('herald-bell'));
const who = /** @type {HTMLElement} */ (document.getElementById('who'));
const sent = /** @type {HTMLElement} */ (document.getElementById('sent'));
const USER_KEY = 'herald-demo-user';
const LIKERS = ['Anna', 'Ben', 'Chloé', 'Dmitri', 'Eve'];

// The API wants optional fields absent, not empty strings.
document.body.addEventListener('htmx:configRequest', (event) => {
  const { formData } = /** @type {CustomEvent} */ (event).detail;
  for (const [key, value] of [...formData.entries()]) if (value === '') formData.delete(key);
});

// Before the session changes hands, this browser's Web Push subscription is
// dropped (while the old session can still delete it on the server), so one
// user's pushes never reach the next user of the browser.
for (const id of ['login', 'logout']) {
  document.getElementById(id)?.addEventListener('htmx:confirm', (event) => {
    const { issueRequest } = /** @type {CustomEvent} */ (event).detail;
    event.preventDefault();
    import('./push.js').then((push) => push.disablePush()).catch(() => {}).finally(() => issueRequest(true));
  });
}

document.body.addEventListener('htmx:afterRequest', (event) => {
  const { elt, xhr, successful } = /** @type {CustomEvent} */ (event).detail;
  if (!successful) {
    const message = safeJson(xhr.responseText)?.message ?? `Request failed (${xhr.status}).`;
    (elt.closest('section')?.querySelector('[role=status]') ?? sent).textContent = message;
    return;
  }
  if (elt.id === 'login') {
    const user = safeJson(xhr.responseText)?.userId;
    localStorage.setItem(USER_KEY, user);
    who.textContent = `Signed in as ${user}.`;
    bell.restart();
  } else if (elt.id === 'logout') {
    localStorage.removeItem(USER_KEY);
    who.textContent = 'Signed out.';
    bell.restart();
  } else {
    const priority = elt.dataset.priority ?? new FormData(elt).get('priority');
    sent.textContent = `Sent a ${priority} notification.`;
  }
});

document.getElementById('likes')?.addEventListener('click', async () => {
  // One request each, as five different people would cause: the server groups them.
  for (const actor of LIKERS) {
    const response = await fetch('/api/demo/notify', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify({ title: `${actor} liked your post`, actor, groupKey: 'post:42:likes', type: 'post.liked', priority: 'low' }),
    });
    if (!response.ok) {
      sent.textContent = (await response.json().catch(() => ({}))).message ?? 'Sending failed.';
      return;
    }
  }
  sent.textContent = 'Sent 5 likes; they show as one group.';
});

bell.addEventListener('herald:signedout', () => {
  who.textContent = 'Not signed in: pick a demo user.';
});
bell.addEventListener('herald:status', (event) => {
  const user = localStorage.getItem(USER_KEY);
  if (/** @type {CustomEvent} */ (event).detail.status === 'connected' && user && !who.textContent) {
    who.textContent = `Signed in as ${user}.`;
  }
});

/** @param {string} text */
function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
