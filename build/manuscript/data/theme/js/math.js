/* math.js: a display formula wider than its column scrolls sideways (30-math.css);
   make exactly those reachable by keyboard, so arrow keys can scroll them too. */
(function () {
  'use strict';
  var formulas = document.querySelectorAll('mjx-container[display="true"]');
  if (!formulas.length) return;
  function update() {
    formulas.forEach(function (formula) {
      if (formula.scrollWidth > formula.clientWidth + 1) {
        formula.setAttribute('tabindex', '0');
      } else {
        formula.removeAttribute('tabindex');
      }
    });
  }
  update();
  window.addEventListener('load', update);
  window.addEventListener('resize', update);
})();
