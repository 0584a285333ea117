// Ticketing: progressive enhancement only. Every page works without this
// file; with it, the order page counts down, Stripe Elements turns card
// details into a token, prices are tidied to two decimals, and forms are not
// sent twice by a double click.
(function () {
  'use strict';

  // The order's countdown. The server renders the time left by its own
  // clock; counting down from it with the browser's stopwatch keeps a wrong
  // clock on the user's machine out of it. Only "Order expired" goes to the
  // live region: a screen reader reading out every second helps nobody.
  var countdown = document.getElementById('countdown');
  if (countdown) {
    var deadline = performance.now() + Number(countdown.getAttribute('data-ms-left'));
    var status = document.getElementById('order-status');
    var timer;
    var tick = function () {
      var ms = deadline - performance.now();
      if (ms <= 0) {
        clearInterval(timer);
        countdown.hidden = true;
        var payment = document.getElementById('payment');
        if (payment) { payment.hidden = true; }
        var cancel = document.querySelector('.secondary-action');
        if (cancel) { cancel.hidden = true; }
        status.textContent = 'Order expired';
        return;
      }
      var n = Math.ceil(ms / 1000);
      var text = n + (n === 1 ? ' second' : ' seconds') + ' until order expires';
      if (countdown.textContent !== text) { countdown.textContent = text; }
    };
    timer = setInterval(tick, 200);
    tick();
  }

  // Stripe Elements: the card details go from Stripe's own fields to Stripe,
  // which answers with a token; only the token is posted to this site.
  var cardForm = document.getElementById('card-form');
  if (cardForm) {
    var cardErrors = document.getElementById('card-errors');
    if (typeof window.Stripe !== 'function') {
      cardErrors.textContent = 'The card form could not load. Check your connection and reload the page.';
    } else {
      var stripe = window.Stripe(cardForm.getAttribute('data-stripe-key'));
      var card = stripe.elements().create('card');
      card.mount('#card-element');
      card.on('change', function (e) { cardErrors.textContent = e.error ? e.error.message : ''; });
      var payButton = cardForm.querySelector('button[type="submit"]');
      cardForm.addEventListener('submit', function (e) {
        e.preventDefault();
        payButton.disabled = true;
        stripe.createToken(card).then(function (result) {
          if (result.error) {
            cardErrors.textContent = result.error.message;
            payButton.disabled = false;
            return;
          }
          cardForm.elements.token.value = result.token.id;
          cardForm.submit();
        });
      });
    }
  }

  // Prices with two decimals, as the original did on blur: 20.5 → 20.50.
  // Strings only, so no amount passes through floating point.
  var priceInput = document.getElementById('price');
  if (priceInput) {
    priceInput.addEventListener('blur', function () {
      var m = /^\s*(\d+)(?:\.(\d{0,2}))?\s*$/.exec(priceInput.value);
      if (m) { priceInput.value = m[1] + '.' + ((m[2] || '') + '00').slice(0, 2); }
    });
  }

  // A second click while a form is on its way would post it twice: a
  // second purchase of the same ticket, a second payment.
  document.querySelectorAll('form[data-once]').forEach(function (form) {
    form.addEventListener('submit', function () {
      var buttons = form.querySelectorAll('button[type="submit"]');
      setTimeout(function () {
        buttons.forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  });
  // Coming back with the back button shows the page as it was left.
  window.addEventListener('pageshow', function (e) {
    if (e.persisted) {
      document.querySelectorAll('form[data-once] button[type="submit"]').forEach(function (b) { b.disabled = false; });
    }
  });
})();
