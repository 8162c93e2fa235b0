/* zoom.js: open figure images and tables in a full-screen <dialog>.
   Escape, the close button or a click outside the content closes it. */
(function () {
  'use strict';
  function init() {
    var root = document.getElementById('content') || document.querySelector('main');
    if (!root || typeof HTMLDialogElement !== 'function') return;
    var dialog = document.createElement('dialog');
    dialog.className = 'zoom-dialog';
    var close = document.createElement('button');
    close.type = 'button';
    close.className = 'zoom-close';
    close.setAttribute('aria-label', 'Close');
    close.textContent = '\u00d7';
    var body = document.createElement('div');
    body.className = 'zoom-body';
    dialog.appendChild(close);
    dialog.appendChild(body);
    document.body.appendChild(dialog);
    if (typeof dialog.showModal !== 'function') { dialog.remove(); return; }
    var opener = null;

    function open(node, label, from) {
      body.textContent = '';
      body.appendChild(node);
      dialog.setAttribute('aria-label', label);
      opener = from;
      dialog.showModal();
      body.scrollLeft = 0;  // a wide table opens at its first column
      body.scrollTop = 0;
      close.focus();
    }
    close.addEventListener('click', function () { dialog.close(); });
    dialog.addEventListener('click', function (e) {
      if (e.target === dialog || e.target === body) dialog.close();
      else if (e.target.tagName === 'IMG') e.target.classList.toggle('fit');
    });
    dialog.addEventListener('close', function () {
      body.textContent = '';
      if (opener && opener.focus) opener.focus();
    });

    Array.prototype.forEach.call(root.querySelectorAll('figure img'), function (img) {
      if (img.classList.contains('inline_icon') || img.closest('a')) return;
      img.classList.add('zoomable');
      img.tabIndex = 0;
      img.setAttribute('role', 'button');
      img.setAttribute('aria-label', 'Enlarge figure' + (img.alt ? ': ' + img.alt : ''));
      function go() {
        var c = img.cloneNode(false);
        c.removeAttribute('id');
        c.removeAttribute('style');
        c.removeAttribute('width');
        c.removeAttribute('height');
        c.removeAttribute('tabindex');
        c.removeAttribute('role');
        c.removeAttribute('aria-label');
        c.className = 'fit';
        open(c, 'Enlarged figure', img);
      }
      img.addEventListener('click', go);
      img.addEventListener('keydown', function (e) {
        if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); go(); }
      });
    });

    Array.prototype.forEach.call(root.querySelectorAll('table'), function (table) {
      if (table.closest('.zoom-dialog')) return;
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'zoom-table-btn';
      b.textContent = 'Expand table';
      b.addEventListener('click', function () {
        var c = table.cloneNode(true);
        c.removeAttribute('id');
        Array.prototype.forEach.call(c.querySelectorAll('[id]'), function (x) { x.removeAttribute('id'); });
        Array.prototype.forEach.call(c.querySelectorAll('.caption-moved'), function (x) { x.classList.remove('caption-moved'); });
        open(c, 'Enlarged table', b);
      });
      var box = table.parentNode.classList.contains('table-scroll') ? table.parentNode : table;
      box.parentNode.insertBefore(b, box.nextSibling);
      // Only a table wider than its column needs enlarging.
      var fit = function () { b.hidden = box.scrollWidth <= box.clientWidth + 1; };
      fit();
      window.addEventListener('resize', function () { window.requestAnimationFrame(fit); });
    });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
