// Pyodide in Node, for the subscriber scenarios: node node_harness.mjs <web/vendor/pyodide> <scenarios.py>
// Loads the runtime and herald-client from Herald's vendored files (no npm, no network), then runs
// scenarios as stdin asks: {"id", "name", "kwargs"} per line; answers {"id", "report" | "result" | "error"}.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const [vendor, scenariosPath] = process.argv.slice(2);
const out = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

// Every URL Python fetches, so the test can assert that nothing left this machine.
const fetched = [];
const nodeFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  fetched.push(String(input?.url ?? input));
  return nodeFetch(input, init);
};

const { loadPyodide } = await import(`${vendor}/pyodide.mjs`);
// packageBaseUrl too: in Node, Pyodide would otherwise fetch missing packages from its CDN.
const pyodide = await loadPyodide({ indexURL: `${vendor}/`, packageBaseUrl: `${vendor}/` });
await pyodide.loadPackage('herald-client', { messageCallback: () => {} });
pyodide.FS.writeFile('/home/pyodide/scenarios.py', readFileSync(scenariosPath, 'utf8'));
const scenarios = pyodide.pyimport('scenarios');
out({ loaded: pyodide.runPython('import herald_client, sys; f"{herald_client.__version__} {sys.platform}"') });

for await (const line of createInterface({ input: process.stdin })) {
  const { id, name, kwargs } = JSON.parse(line);
  if (name === 'fetched') {
    out({ id, result: fetched });
    continue;
  }
  scenarios.run(name, JSON.stringify(kwargs), (text) => out({ id, report: text })).then(
    (json) => out({ id, result: JSON.parse(json) }),
    (error) => out({ id, error: String(error) }),
  );
}
