// Entry point for the page's JavaScript. Load it as a module:
//
//   <script type="module" src="/static/js/app.<hash>.js"></script>
//
// nhsuk-frontend's bundle is an ES module that exports initAll and starts
// nothing by itself. The import below is written relative to this file; the
// static package rewrites it to the bundle's fingerprinted URL when the
// server starts, so it is cached as long as every other asset.
//
// Every page works without JavaScript; this only enhances components.
import { initAll } from '../nhsuk/nhsuk-frontend.min.js'

// nhsuk-frontend's page template sets these classes with an inline script,
// which the CSP does not allow. Module scripts run only in browsers that
// nhsuk-frontend supports, so setting them here is equivalent.
document.body.classList.add('js-enabled', 'nhsuk-frontend-supported')

initAll()

// A page restored from the back/forward cache was not asked of the
// server: after sign-out, Back would show patient data again. Reload it,
// so the server decides (and asks for sign-in if the session has ended).
window.addEventListener('pageshow', function (event) {
  if (event.persisted) {
    window.location.reload()
  }
})

// Conditional reveal: a follow-up question shows only under the option
// that asks it. nhsuk-frontend's own reveal marks the radio aria-expanded,
// which ARIA does not allow on a radio (axe: aria-allowed-attr), so radios
// name their follow-up with data-reveal instead and this keeps it hidden
// while another option is chosen. Without JavaScript every follow-up shows.
function syncReveals () {
  document.querySelectorAll('input[type="radio"][data-reveal]').forEach(function (input) {
    const panel = document.getElementById(input.dataset.reveal)
    if (panel) {
      panel.classList.toggle('nhsuk-radios__conditional--hidden', !input.checked)
    }
  })
}
document.addEventListener('change', function (event) {
  if (event.target instanceof HTMLInputElement && event.target.type === 'radio') {
    syncReveals()
  }
})
window.addEventListener('pageshow', syncReveals)
syncReveals()

// Keyboard shortcuts (listed at /help/keyboard): a single key, outside
// form fields and without Ctrl, Alt or Meta, acts on the element of the
// page marked data-shortcut with that key: a link is followed, the
// timeline's filters are opened, a field is focused. They can be turned
// off for this browser (WCAG 2.1.4), on the help page.
const shortcutsKey = 'carerecord.shortcuts'
function shortcutsOn () {
  try { return window.localStorage.getItem(shortcutsKey) !== 'off' } catch (e) { return true }
}
document.addEventListener('keydown', function (event) {
  if (event.ctrlKey || event.altKey || event.metaKey || event.defaultPrevented || !shortcutsOn()) {
    return
  }
  const t = event.target
  if (t instanceof Element && t.closest('input, textarea, select, [contenteditable], summary, button')) {
    return
  }
  const el = Array.from(document.querySelectorAll('[data-shortcut]')).find(function (e) { return e.dataset.shortcut === event.key })
  if (!el) {
    return
  }
  event.preventDefault()
  if (el.tagName === 'SUMMARY') {
    const details = el.parentElement
    details.open = true
    const first = details.querySelector('input, select, textarea')
    ;(first || el).focus()
  } else if (el.tagName === 'A') {
    el.click()
  } else {
    el.focus()
  }
})

// The help page's switch for the shortcuts.
const toggle = document.getElementById('shortcuts-toggle')
if (toggle) {
  const state = document.getElementById('shortcuts-state')
  const show = function () {
    const on = shortcutsOn()
    state.textContent = on ? 'on' : 'off'
    toggle.textContent = on ? 'Turn shortcuts off' : 'Turn shortcuts on'
  }
  toggle.hidden = false
  state.parentElement.hidden = false
  toggle.addEventListener('click', function () {
    try { window.localStorage.setItem(shortcutsKey, shortcutsOn() ? 'off' : 'on') } catch (e) {}
    show()
  })
  show()
}

// The print view's button opens the browser's print dialog, only when
// pressed; without JavaScript it stays hidden and the page says how to
// print.
document.querySelectorAll('button[data-print]').forEach(function (button) {
  button.hidden = false
  button.addEventListener('click', function () { window.print() })
})
