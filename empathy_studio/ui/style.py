"""The page's CSS and its scripts (keyboard rating, toasts), handed to `launch()`."""

CSS = """
.es-dialogue { max-height: 520px; overflow-y: auto; padding: 6px; }
.es-turn { margin: 6px 0; padding: 8px 12px; border-radius: 12px; max-width: 85%; line-height: 1.4; }
.es-seeker { background: #eef3fb; border: 1px solid #d3e0f3; margin-right: auto; }
.es-supporter { background: #f4f1ea; border: 1px solid #e6dfcf; margin-left: auto; }
.es-who { font-size: 11px; text-transform: uppercase; letter-spacing: .05em; color: #667; margin-bottom: 2px; }
.es-badges { margin-top: 4px; }
.es-badge { display: inline-block; margin: 2px 4px 0 0; padding: 0 6px; border-radius: 8px; font-size: 11px; border: 1px solid #cbd5e1; }
.es-badge.es-none { background: #f1f5f9; color: #64748b; }
.es-badge.es-weak { background: #fef3c7; color: #92400e; }
.es-badge.es-strong { background: #dcfce7; color: #166534; }
.es-badge.es-score { background: #e0e7ff; color: #3730a3; }
mark.es-why { background: none; color: inherit; padding: 0 1px; border-radius: 3px; }
mark.es-why-er { background: #ffe4e6; }
mark.es-why-ip { box-shadow: inset 0 -3px 0 #60a5fa; }
mark.es-why-ex { outline: 1px dashed #16a34a; }
.es-strategy { margin-left: 8px; padding: 1px 6px; border-radius: 8px; background: #e6dfcf; color: #554; text-transform: none; }
.es-meta { font-size: 13px; color: #445; margin-bottom: 6px; }
.es-situation { font-size: 13px; font-style: italic; color: #556; margin-bottom: 8px; }
.es-table { border-collapse: collapse; width: 100%; font-size: 14px; }
.es-pred { max-width: 100%; overflow-x: auto; }  /* a wide words table scrolls inside its column, never under the next one */
.es-table th, .es-table td { border-bottom: 1px solid #e5e7eb; padding: 6px 8px; text-align: left; }
.es-banner { padding: 8px 12px; border-radius: 8px; font-size: 13px; }
.es-info { background: #eef6ff; color: #1e3a5f; }
.es-warn { background: #fff5e6; color: #6b4200; }
.es-scale.es-active { box-shadow: inset 0 0 0 2px #3b6ea5 !important; border-radius: 8px; }
.es-keys { font-size: 12px; color: #667; }
.es-word { white-space: nowrap; font-size: 13px; }
.es-up { color: #9a3412; }
.es-down { color: #1d4ed8; }
.es-other { color: #6b7280; }
.es-interval { color: #6b7280; font-size: 13px; }
.es-note { margin-top: 6px; }
.es-removed { color: #92400e; }
.es-hidden { display: none !important; }
.es-log { max-height: 220px; overflow-y: auto; display: flex; flex-direction: column-reverse; background: #f8fafc;
          border: 1px solid #e5e7eb; border-radius: 8px; }
.es-log pre { margin: 0; padding: 8px 10px; font-size: 12px; white-space: pre-wrap; word-break: break-word; }
.es-status { font-size: 13px; color: #14532d; background: #ecfdf3; border-radius: 6px; padding: 4px 8px; }
.es-progress progress { height: 10px; }
/* the 1-5 scales stay on one line, down to a phone's width */
.es-scale .wrap { flex-wrap: nowrap !important; gap: 6px !important; }
.es-scale .wrap label { flex: 1 1 0; justify-content: center; min-width: 0 !important; padding: 6px 4px !important; }
@media (max-width: 900px) {
  .es-turn { max-width: 100%; }
  /* on a narrow screen the rating controls come before the dialogue, so Save is on screen without scrolling */
  #rate-col { order: -1; }
  #annotate-chat .es-dialogue { max-height: 320px; }
}
"""

# 1-5 set the active scale (initial, then final), Enter submits, s skips, b goes back, u or Ctrl+Z undoes,
# arrow keys switch the scale. In a response-empathy campaign 0-2 set the active mechanism (ER, then IP,
# then EX). Inactive while typing in a text field. Whenever the form is filled from elsewhere (a new item,
# a draft restored after a reload, a campaign picked again) and until the next key, the active scale is
# the first one still empty, so a key never overwrites a restored value; a refused save keeps it.
# After sign-in, focus leaves the password box.
# Toasts live outside the app's container, where Gradio's scoping of `css` does not reach rules inside @media; these go in
# the page's head as they are. Wide: bottom left, away from the rating controls on the right. Narrow (the form's scales
# fill the lower screen): a thin bar at the top, clear of them.
TOAST_CSS = """
<style>
.toast-wrap { top: auto !important; bottom: 16px !important; left: 16px !important; right: auto !important; }
@media (max-width: 900px) {
  .toast-wrap { top: 4px !important; bottom: auto !important; left: 50% !important; right: auto !important; transform: translateX(-50%);
                width: min(96vw, 520px) !important; }
  .toast-wrap .toast-body { margin: 0 !important; padding: 6px 10px !important; }
}
</style>
"""

KEYBOARD_JS = (
    TOAST_CSS
    + """
<script>
(() => {
  const orders = {intensity: ['initial', 'final'], empathy: ['er', 'ip', 'ex']};
  let active = 'initial';
  let shown = null;
  let keyed = false;  // a rating key was pressed on this item since the form was last filled from elsewhere
  const mode = () => { const e = document.getElementById('rate-er'); return e && e.offsetParent !== null ? 'empathy' : 'intensity'; };
  const isSet = (n) => { const el = document.getElementById('rate-' + n); return !!(el && el.querySelector('input[type=radio]:checked')); };
  const firstEmpty = () => orders[mode()].find(n => !isSet(n)) || orders[mode()][0];
  const mark = () => {
    document.querySelectorAll('.es-scale').forEach(e => e.classList.remove('es-active'));
    const el = document.getElementById('rate-' + active); if (el) el.classList.add('es-active');
  };
  const settle = () => {
    const next = firstEmpty();
    if (next !== active || !document.querySelector('.es-scale.es-active')) { active = next; mark(); }
  };
  const zone = () => {  // the browser's time zone, into the hidden field the ratings table reads it from
    const box = document.querySelector('#browser-zone textarea, #browser-zone input');
    if (box && !box.value) {
      box.value = Intl.DateTimeFormat().resolvedOptions().timeZone || '';
      box.dispatchEvent(new Event('input', {bubbles: true}));
    }
  };
  new MutationObserver(() => {
    zone();
    const d = document.querySelector('#annotate-chat .es-dialogue');
    const item = d ? d.getAttribute('data-item') : null;
    if (item !== shown) { shown = item; keyed = false; }
    if (!keyed || orders[mode()].every(n => !isSet(n))) settle();  // filled (or cleared) from elsewhere: the first empty scale
    const who = document.getElementById('whoami');
    if (who && who.innerText.startsWith('Signed in') && !who.dataset.seen) {
      who.dataset.seen = '1';
      const pw = document.querySelector('#signin-password input');
      if (pw && document.activeElement === pw) pw.blur();
      const panel = document.getElementById('annotate-panel');
      if (panel) { panel.setAttribute('tabindex', '-1'); panel.focus({preventScroll: true}); }
    } else if (who && !who.innerText.startsWith('Signed in')) { delete who.dataset.seen; }
  }).observe(document.documentElement, {childList: true, subtree: true, characterData: true});
  document.addEventListener('focusin', (ev) => {
    const scale = ev.target.closest && ev.target.closest('.es-scale');
    const name = scale ? scale.id.replace('rate-', '') : null;
    if (name && orders[mode()].includes(name)) { keyed = true; active = name; mark(); }
  });
  document.addEventListener('keydown', (ev) => {
    const panel = document.getElementById('annotate-panel');
    if (!panel || panel.offsetParent === null || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    if (t && (t.tagName === 'TEXTAREA' ||
              (t.tagName === 'INPUT' && t.type !== 'radio' && t.type !== 'button' && t.type !== 'checkbox'))) return;
    const click = (sel) => { const b = document.querySelector(sel); if (b) b.click(); };
    const guide = document.getElementById('annotate-guidelines');
    if (guide && guide.offsetParent !== null) {  // the guidelines are read first: Enter says so, no key rates until then
      if (ev.key === 'Enter') { click('#guidelines-read'); ev.preventDefault(); }
      return;
    }
    if (ev.ctrlKey) { if (ev.key === 'z') { click('#undo-rating'); ev.preventDefault(); } return; }
    const order = orders[mode()];
    if (!order.includes(active)) active = order[0];
    const [lo, hi] = mode() === 'empathy' ? ['0', '2'] : ['1', '5'];
    if (ev.key.length === 1 && ev.key >= lo && ev.key <= hi) {
      const input = document.querySelector('#rate-' + active + ' input[type=radio][value="' + ev.key + '"]');
      if (input) {
        keyed = true; input.click();
        const i = order.indexOf(active);
        if (i < order.length - 1) active = order[i + 1];
        mark(); ev.preventDefault();
      }
    } else if (ev.key === 'Enter') { click(mode() === 'empathy' ? '#submit-empathy' : '#submit-rating'); ev.preventDefault(); }
    else if (ev.key === 's') { click('#skip-item'); ev.preventDefault(); }
    else if (ev.key === 'b') { click('#back-item'); ev.preventDefault(); }
    else if (ev.key === 'u') { click('#undo-rating'); ev.preventDefault(); }
    else if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      keyed = true;
      const step = ev.key === 'ArrowDown' ? 1 : order.length - 1;
      active = order[(order.indexOf(active) + step) % order.length]; mark(); ev.preventDefault();
    }
  });
})();
</script>
"""
)
