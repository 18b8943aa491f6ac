/** The shadow root's CSS, themed by --herald-* properties, light and dark; colours meet WCAG AA. Logical
 * properties only (inline-start, not left), so a right-to-left language lays out mirrored. */
export const CSS = `
:host{--fg:var(--herald-fg, #1b1b1b);--bg:var(--herald-bg, #fff);--muted:var(--herald-muted, #555);
  --accent:var(--herald-accent, #0b57d0);--alert:var(--herald-alert, #b3261e);--line:var(--herald-line, #d0d0d0);
  --on-alert:var(--herald-on-alert, #fff);color-scheme:light dark;display:inline-block;position:relative;font:14px/1.4 var(--herald-font, system-ui, sans-serif);color:var(--fg);}
*{box-sizing:border-box;}
button, select{font:inherit;color:inherit;}
select{background:var(--bg);border:1px solid var(--line);border-radius:.3rem;}
:focus-visible{outline:2px solid var(--accent);outline-offset:2px;}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap;}
[hidden]{display:none !important;}
.bar{display:flex;align-items:center;gap:.5rem;}
.bell{position:relative;display:grid;place-items:center;width:2.5rem;height:2.5rem;border:1px solid var(--line);
  border-radius:50%;background:var(--bg);cursor:pointer;}
.bell svg{width:1.25rem;height:1.25rem;fill:currentColor;}
.badge{position:absolute;top:-.3rem;inset-inline-end:-.4rem;min-width:1.3rem;padding:0 .3rem;border-radius:.65rem;
  background:var(--alert);color:var(--on-alert);font-size:12px;font-weight:700;line-height:1.3rem;text-align:center;}
.conn{font-size:12px;color:var(--muted);}
.panel{position:absolute;inset-inline-end:0;top:calc(100% + .5rem);z-index:1000;width:min(24rem, 92vw);max-height:70vh;
  overflow:auto;background:var(--bg);border:1px solid var(--line);border-radius:.5rem;box-shadow:0 8px 24px #0003;}
.panel header, .tools{display:flex;align-items:center;justify-content:space-between;gap:.5rem;padding:.5rem .75rem;}
.panel h2{margin:0;font-size:16px;}
.state{font-size:12px;color:var(--muted);}
.state::before{content:'';display:inline-block;width:.5rem;height:.5rem;margin-inline-end:.3rem;border-radius:50%;background:var(--alert);}
:host([data-status=connected]) .state::before{background:#1e7d32;}
.tools{border-bottom:1px solid var(--line);}
.tools button, .older, .desktop, .actions button{border:1px solid var(--line);border-radius:.3rem;background:var(--bg);
  padding:.2rem .5rem;cursor:pointer;}
.desktop, .older{display:block;margin:.5rem .75rem;}
.list{list-style:none;margin:0;padding:0;}
.item{display:grid;grid-template-columns:1fr auto;gap:.25rem .5rem;padding:.6rem .75rem;border-bottom:1px solid var(--line);}
.item.unread{background:color-mix(in srgb, var(--accent) 7%, var(--bg));}
.item.unread .title::before{content:'';display:inline-block;width:.5rem;height:.5rem;margin-inline-end:.35rem;
  border-radius:50%;background:var(--accent);}
.item[data-priority=urgent]{border-inline-start:4px solid var(--alert);}
.item > .body{grid-column:1 / -1;}
.open{display:block;min-width:0;padding:0;border:0;background:none;text-align:start;color:inherit;
  text-decoration:none;cursor:pointer;}
.title{font-weight:600;overflow-wrap:anywhere;}
.more{margin-inline-start:.25rem;color:var(--muted);}
.body{display:block;margin:.1rem 0 0;color:var(--muted);overflow-wrap:anywhere;}
.body a{color:var(--accent);}
code{font:12px ui-monospace, monospace;padding:0 .2rem;border-radius:.2rem;background:color-mix(in srgb, var(--fg) 8%, var(--bg));}
.avatar{float:inline-start;width:2rem;height:2rem;margin-inline-end:.5rem;border-radius:50%;object-fit:cover;}
.picture{display:block;max-width:100%;max-height:10rem;margin:.3rem 0;border-radius:.3rem;}
time{display:block;font-size:12px;color:var(--muted);}
.actions{display:flex;flex-direction:column;gap:.25rem;align-items:flex-end;}
.members, .acts{grid-column:1 / -1;margin:0;color:var(--muted);}
.tabs{display:flex;flex-wrap:wrap;gap:.25rem;padding:0 .75rem .5rem;}
.tabs button, .acts button, .snooze{border:1px solid var(--line);border-radius:1rem;background:var(--bg);padding:.1rem .6rem;cursor:pointer;}
.tabs [aria-pressed=true], .acts .primary{background:var(--accent);border-color:var(--accent);color:var(--bg);}
.acts{display:flex;gap:.4rem;margin-top:.3rem;}
.acts [aria-pressed=true]::before{content:'✓ ';}
.empty{margin:0;padding:1rem .75rem;color:var(--muted);}
.toasts{position:fixed;inset-inline-end:1rem;bottom:1rem;z-index:1001;display:flex;flex-direction:column;gap:.5rem;
  width:min(22rem, calc(100vw - 2rem));}
.toast{position:relative;padding-block:.75rem;padding-inline:.9rem 2.25rem;background:var(--bg);border:1px solid var(--line);
  border-inline-start:4px solid var(--accent);border-radius:.4rem;box-shadow:0 4px 16px #0003;}
.toast[data-priority=urgent]{border-inline-start-color:var(--alert);}
.toast .title{display:block;color:inherit;}
.toast .body{margin:.2rem 0 0;}
.dismiss{position:absolute;top:.3rem;inset-inline-end:.3rem;width:1.75rem;height:1.75rem;border:0;border-radius:.3rem;
  background:none;font-size:18px;line-height:1;cursor:pointer;}
@media (prefers-color-scheme:dark) {
  :host{--fg:var(--herald-fg, #e6e6e6);--bg:var(--herald-bg, #1f1f23);--muted:var(--herald-muted, #b4b4b4);
    --accent:var(--herald-accent, #a8c7fa);--alert:var(--herald-alert, #f2b8b5);--line:var(--herald-line, #55555c);
    --on-alert:var(--herald-on-alert, #1f1f23);}
}
@media (prefers-reduced-motion:no-preference) {
  .toast{animation:herald-in .2s ease-out;}
  .panel{animation:herald-in .12s ease-out;}
}
@keyframes herald-in{from{opacity:0;transform:translateY(.5rem);}}
`;
