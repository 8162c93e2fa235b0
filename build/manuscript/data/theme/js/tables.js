/* tables.js: wrap each table in its own horizontal scroll container so wide
   tables never widen the page (CSS alone falls back to a scrolling table box). */
(function () {
  'use strict';
  function init() {
    var root = document.getElementById('content') || document.querySelector('main');
    if (!root) return;
    Array.prototype.forEach.call(root.querySelectorAll('table'), function (table) {
      var parent = table.parentNode;
      if (parent.classList && parent.classList.contains('table-scroll')) return;
      var wrap = document.createElement('div');
      wrap.className = 'table-scroll';
      wrap.tabIndex = 0;
      wrap.setAttribute('role', 'region');
      var cap = table.querySelector('caption');
      wrap.setAttribute('aria-label', cap ? cap.textContent.trim().slice(0, 120) : 'Table');
      parent.insertBefore(wrap, table);
      wrap.appendChild(table);
      // show the caption outside the scroll box so it wraps to the column;
      // the original stays in the table (visually hidden) for assistive tech
      if (cap && cap.textContent.trim()) {
        var vis = document.createElement('div');
        vis.className = 'table-caption';
        vis.setAttribute('aria-hidden', 'true');
        Array.prototype.forEach.call(cap.childNodes, function (n) { vis.appendChild(n.cloneNode(true)); });
        Array.prototype.forEach.call(vis.querySelectorAll('[id]'), function (x) { x.removeAttribute('id'); });
        cap.classList.add('caption-moved');
        parent.insertBefore(vis, wrap);
      }
    });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
