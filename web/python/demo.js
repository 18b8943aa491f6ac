/**
 * /demo/python: load Pyodide and herald-client from this origin, then run the page's Python.
 * Development mode only (the page and the demo endpoints do not exist in production).
 */
import { loadPyodide } from '/static/vendor/pyodide/pyodide.mjs';

const output = /** @type {HTMLElement} */ (document.getElementById('output'));
const program = /** @type {HTMLElement} */ (document.getElementById('program')).textContent ?? '';
const user = new URLSearchParams(location.search).get('user') || 'alice';
/** @type {HTMLElement} */ (document.getElementById('code')).textContent = program.trim();

/** @param {string} line */
function print(line) {
  if (output.getAttribute('aria-busy') === 'true') {
    output.textContent = '';
    output.setAttribute('aria-busy', 'false');
  }
  output.textContent += `${line}\n`;
}

document.getElementById('send')?.addEventListener('click', async () => {
  const sent = /** @type {HTMLElement} */ (document.getElementById('sent'));
  const response = await fetch('/api/demo/notify', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, credentials: 'same-origin',
    body: JSON.stringify({ title: `Hello ${user}, from the demo`, priority: 'high', type: 'demo' }),
  });
  sent.textContent = response.ok ? 'Sent.' : `Sending failed (${response.status}).`;
});

try {
  // The lock beside the runtime lists herald-client and micropip: no index, no CDN.
  const pyodide = await loadPyodide({ indexURL: '/static/vendor/pyodide/', stdout: print, stderr: print });
  await pyodide.loadPackage('herald-client', { messageCallback: () => {} });
  pyodide.globals.set('user', user);
  await pyodide.runPythonAsync(program);
} catch (error) {
  print(`Error: ${error}`);
}
