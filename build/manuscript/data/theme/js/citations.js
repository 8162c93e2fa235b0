/* citations.js: reference previews on hover/focus of citation links, and
   back-links from each reference to every place it is cited. */
(function () {
  'use strict';
  function init() {
    var links = document.querySelectorAll('.citation a[href^="#ref-"]');
    if (!links.length) return;

    /* ---- ids for citation occurrences + back-links ---- */
    var occurrences = {};
    Array.prototype.forEach.call(links, function (a) {
      var key = a.getAttribute('href').slice(5);
      var list = occurrences[key] || (occurrences[key] = []);
      if (!a.id) a.id = 'cite-ref-' + key + '-' + (list.length + 1);
      list.push(a.id);
    });
    Object.keys(occurrences).forEach(function (key) {
      var entry = document.getElementById('ref-' + key);
      if (!entry || entry.querySelector('.cite-backlinks')) return;
      var span = document.createElement('span');
      span.className = 'cite-backlinks';
      var arrow = document.createElement('span');
      arrow.setAttribute('aria-hidden', 'true');
      arrow.textContent = '\u21a9';
      span.appendChild(arrow);
      occurrences[key].forEach(function (id, i) {
        var b = document.createElement('a');
        b.href = '#' + id;
        b.textContent = String(i + 1);
        b.setAttribute('aria-label', 'Back to citation ' + (i + 1));
        span.appendChild(document.createTextNode(' '));
        span.appendChild(b);
      });
      // inline after the entry's last words: into its last block (a style that puts
      // authors or identifiers on lines of their own), never on a line by itself
      var host = entry.querySelector('.csl-right-inline') || entry;
      while (host.lastElementChild && host.lastElementChild.classList.contains('csl-block') &&
             !(host.lastChild.nodeType === 3 && host.lastChild.textContent.trim())) {
        host = host.lastElementChild;
      }
      host.appendChild(span);
    });
    document.addEventListener('click', function (e) {
      var b = e.target.closest && e.target.closest('.cite-backlinks a');
      if (!b) return;
      var t = document.getElementById(b.getAttribute('href').slice(1));
      if (!t) return;
      t.classList.add('cite-flash');
      setTimeout(function () { t.classList.remove('cite-flash'); }, 2000);
    });

    /* ---- tooltip ---- */
    var tip = document.createElement('div');
    tip.className = 'cite-tooltip';
    tip.id = 'cite-tooltip';
    tip.setAttribute('role', 'tooltip');
    tip.hidden = true;
    document.body.appendChild(tip);
    var current = null, hideTimer = null;

    function fill(entry) {
      tip.textContent = '';
      var num = entry.querySelector('.csl-left-margin');
      var body = entry.querySelector('.csl-right-inline') || entry;
      if (num) {
        var n = document.createElement('span');
        n.className = 'cite-tooltip-num';
        n.textContent = num.textContent.trim();
        tip.appendChild(n);
      }
      var clone = body.cloneNode(true);
      Array.prototype.forEach.call(clone.querySelectorAll('.cite-backlinks, .csl-left-margin'), function (x) { x.remove(); });
      Array.prototype.forEach.call(clone.querySelectorAll('[id]'), function (x) { x.removeAttribute('id'); });
      clone.removeAttribute('id');
      var wrap = document.createElement('span');
      while (clone.firstChild) wrap.appendChild(clone.firstChild);
      tip.appendChild(wrap);
    }
    function place(a) {
      var r = a.getBoundingClientRect();
      var vw = document.documentElement.clientWidth;
      tip.style.left = '0px';
      tip.style.top = '0px';
      var tw = tip.offsetWidth, th = tip.offsetHeight, gap = 8;
      var left = r.left + r.width / 2 - tw / 2;
      left = Math.max(gap, Math.min(left, vw - tw - gap));
      var top = r.bottom + gap;
      if (top + th > window.innerHeight && r.top - th - gap > 0) top = r.top - th - gap;
      tip.style.left = (left + window.scrollX) + 'px';
      tip.style.top = (top + window.scrollY) + 'px';
    }
    function show(a) {
      var entry = document.getElementById(a.getAttribute('href').slice(1));
      if (!entry) return;
      clearTimeout(hideTimer);
      if (current && current !== a) current.removeAttribute('aria-describedby');
      current = a;
      fill(entry);
      tip.hidden = false;
      a.setAttribute('aria-describedby', tip.id);
      place(a);
    }
    function hide() {
      clearTimeout(hideTimer);
      tip.hidden = true;
      if (current) current.removeAttribute('aria-describedby');
      current = null;
    }
    function hideSoon() {
      clearTimeout(hideTimer);
      hideTimer = setTimeout(hide, 250);
    }
    Array.prototype.forEach.call(links, function (a) {
      a.addEventListener('mouseenter', function () { show(a); });
      a.addEventListener('mouseleave', hideSoon);
      a.addEventListener('focus', function () { show(a); });
      a.addEventListener('blur', hide);
      a.addEventListener('click', hide);
    });
    tip.addEventListener('mouseenter', function () { clearTimeout(hideTimer); });
    tip.addEventListener('mouseleave', hideSoon);
    document.addEventListener('keydown', function (e) {
      if (e.key === 'Escape' && !tip.hidden) hide();
    });
    window.addEventListener('resize', hide);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
