// SAML HTTP-POST binding: the page holds a form carrying the SAML message
// and a visible Continue button for people without JavaScript. With
// JavaScript the button is hidden and the form is submitted straight away.
(function () {
  'use strict'

  function autoSubmit () {
    var form = document.querySelector('form[data-auto-submit]')
    if (!form) {
      return
    }
    var buttons = form.querySelectorAll('button, input[type="submit"]')
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].hidden = true
    }
    // Called through the prototype so a field named "submit" cannot shadow it.
    HTMLFormElement.prototype.submit.call(form)
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', autoSubmit)
  } else {
    autoSubmit()
  }
})()
