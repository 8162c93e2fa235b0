/* toc.js: highlight the current section in the table of contents and make it
   a collapsible bar on narrow screens. Without JS the TOC is a plain list. */
(function () {
  'use strict';
  function init() {
    var nav = document.getElementById('TOC');
    var list = nav && nav.querySelector('ul');
    if (!list) return;

    /* ---- collapsible panel (styled as a sticky bar below 1100px) ---- */
    var title = nav.querySelector('.toc-title');
    if (!list.id) list.id = 'toc-list';
    var btn = document.createElement('button');
    btn.type = 'button';
    btn.className = 'toc-toggle';
    btn.setAttribute('aria-expanded', 'false');
    btn.setAttribute('aria-controls', list.id);
    btn.innerHTML = '<span class="toc-toggle-label"></span><span class="toc-current"></span>' +
      '<span class="toc-toggle-icon" aria-hidden="true"></span>';
    btn.firstChild.textContent = title ? title.textContent : 'Contents';
    var current = btn.querySelector('.toc-current');
    nav.insertBefore(btn, list);
    nav.classList.add('js-toc');

    function isOpen() { return btn.getAttribute('aria-expanded') === 'true'; }
    function setOpen(open) {
      btn.setAttribute('aria-expanded', open ? 'true' : 'false');
      nav.classList.toggle('open', open);
    }
    function collapsible() { return btn.offsetParent !== null; }
    btn.addEventListener('click', function () { setOpen(!isOpen()); });
    list.addEventListener('click', function (e) {
      if (e.target.closest && e.target.closest('a') && collapsible()) setOpen(false);
    });
    document.addEventListener('keydown', function (e) {
      if (e.key === 'Escape' && isOpen()) { setOpen(false); btn.focus(); }
    });
    document.addEventListener('click', function (e) {
      if (isOpen() && !nav.contains(e.target)) setOpen(false);
    });

    /* ---- current-section tracking ---- */
    var links = Array.prototype.slice.call(list.querySelectorAll('a[href^="#"]'));
    var items = [];
    links.forEach(function (a) {
      var id;
      try { id = decodeURIComponent(a.getAttribute('href').slice(1)); } catch (err) { return; }
      var target = document.getElementById(id);
      if (!target) return;
      // with --section-divs the id is on <section>; track its heading
      var heading = /^H[1-6]$/.test(target.tagName) ? target :
        (target.querySelector(':scope > h1, :scope > h2, :scope > h3, :scope > h4, :scope > h5, :scope > h6') || target);
      items.push({ link: a, el: heading });
    });
    if (!items.length) return;
    var active = null;
    function setActive(item) {
      if (item === active) return;
      if (active) { active.link.classList.remove('active'); active.link.removeAttribute('aria-current'); }
      active = item;
      if (!item) { current.textContent = ''; return; }
      item.link.classList.add('active');
      item.link.setAttribute('aria-current', 'true');
      current.textContent = item.link.textContent;
      // keep the active entry visible inside a scrolling sidebar without moving the page
      if (nav.scrollHeight > nav.clientHeight && !collapsible()) {
        var top = item.link.offsetTop, h = item.link.offsetHeight;
        if (top < nav.scrollTop + 40 || top + h > nav.scrollTop + nav.clientHeight - 40) {
          nav.scrollTop = Math.max(0, top - nav.clientHeight / 3);
        }
      }
    }
    var ticking = false;
    function update() {
      ticking = false;
      var line = Math.min(window.innerHeight * 0.25, 200);
      var found = null;
      for (var i = 0; i < items.length; i++) {
        if (items[i].el.getBoundingClientRect().top <= line) found = items[i]; else break;
      }
      // at the very bottom of the page, the last section is current
      if ((window.innerHeight + window.scrollY) >= document.documentElement.scrollHeight - 2) {
        found = items[items.length - 1];
      }
      setActive(found);
    }
    function schedule() {
      if (!ticking) { ticking = true; (window.requestAnimationFrame || setTimeout)(update); }
    }
    if ('IntersectionObserver' in window) {
      var io = new IntersectionObserver(schedule, { rootMargin: '0px 0px -70% 0px', threshold: [0, 1] });
      items.forEach(function (it) { io.observe(it.el); });
    }
    window.addEventListener('scroll', schedule, { passive: true });
    window.addEventListener('resize', schedule);
    window.addEventListener('hashchange', schedule);
    update();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
