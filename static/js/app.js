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
