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
