// fagprat's additions to Chainlit's page (.chainlit/config.toml: custom_js).
//
// 1. A few of Chainlit's notices are written in English in its compiled
//    frontend (not in its translation files): show them in Norwegian.
// 2. A [n] link ("#kilde-n") whose answer cannot open a panel (e.g. an answer
//    from before the panels were kept) does nothing, rather than opening the
//    chat again in a new tab.
(function () {
  'use strict';
  document.documentElement.lang = 'nb';

  var NORWEGIAN = [
    // Chainlit's English details after these say nothing a nurse can act on.
    [/^Couldn't resume chat[\s\S]*/, 'Kunne ikke åpne samtalen igjen.'],
    [/^Failed to load thread[\s\S]*/, 'Kunne ikke hente samtalen.'],
    [/^Error fetching threads[\s\S]*/, 'Kunne ikke hente samtalene.'],
    [/^Failed to copy: ?.*/, 'Kunne ikke kopiere teksten.'],
    [/^Updating$/, 'Lagrer …'],
    [/^Unauthorized$/, 'Du er logget ut. Last siden på nytt og logg inn.'],
    [/^Invalid authentication token$/, 'Innloggingen er utløpt. Last siden på nytt og logg inn.'],
    [/^Thread not found$/, 'Fant ikke samtalen.'],
    [/^(TypeError: )?Failed to fetch$/, 'Får ikke kontakt med Fagprat. Sjekk nettverket og prøv igjen.'],
    [/^(Error: )?Network Error$/, 'Får ikke kontakt med Fagprat. Sjekk nettverket og prøv igjen.'],
    [/^Internal Server Error$/, 'Noe gikk galt på serveren. Prøv igjen om litt.'],
    [/^Error: /, 'Feil: ']
  ];

  function translate(node) {
    var walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
    var text;
    while ((text = walker.nextNode())) {
      var value = text.nodeValue;
      for (var i = 0; i < NORWEGIAN.length; i++) {
        if (NORWEGIAN[i][0].test(value)) {
          text.nodeValue = value.replace(NORWEGIAN[i][0], NORWEGIAN[i][1]);
          break;
        }
      }
    }
  }

  new MutationObserver(function (mutations) {
    mutations.forEach(function (mutation) {
      mutation.addedNodes.forEach(function (node) {
        if (node.nodeType !== 1) return;
        var toasts = node.matches('[data-sonner-toast]') ? [node] : node.querySelectorAll('[data-sonner-toast]');
        toasts.forEach(translate);
      });
      if (mutation.type === 'characterData' && mutation.target.parentElement) {
        var toast = mutation.target.parentElement.closest('[data-sonner-toast]');
        if (toast) translate(toast);
      }
    });
  }).observe(document.documentElement, { childList: true, subtree: true, characterData: true });

  document.addEventListener('click', function (event) {
    var link = event.target.closest && event.target.closest('a[href^="#kilde-"]');
    if (link) event.preventDefault();
  });
})();
