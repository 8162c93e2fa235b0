/* anchors.js: a "#" link after each heading; clicking it updates the URL hash
   and copies the full link to the clipboard when possible. */
(function () {
  'use strict';
  function init() {
    var root = document.getElementById('content') || document.querySelector('main') || document.body;
    var headings = root.querySelectorAll('h1, h2, h3, h4, h5, h6');
    var status = document.createElement('div');
    status.className = 'visually-hidden';
    status.setAttribute('role', 'status');
    status.style.cssText = 'position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap';
    document.body.appendChild(status);

    Array.prototype.forEach.call(headings, function (h) {
      var id = h.id;
      var parent = h.parentElement;
      if (!id && parent && parent.tagName === 'SECTION' && parent.id && parent.firstElementChild === h) id = parent.id;
      if (!id || h.querySelector('.anchor')) return;
      var a = document.createElement('a');
      a.className = 'anchor';
      a.href = '#' + id;
      a.textContent = '#';
      a.setAttribute('data-copied', 'Link copied');
      a.setAttribute('aria-label', 'Link to section: ' + h.textContent.trim());
      a.addEventListener('click', function (e) {
        e.preventDefault();
        if (location.hash !== '#' + id) location.hash = id;
        var url = location.href.split('#')[0] + '#' + id;
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(url).then(function () {
            a.classList.add('copied');
            status.textContent = 'Link copied to clipboard';
            setTimeout(function () { a.classList.remove('copied'); status.textContent = ''; }, 1600);
          }, function () { /* clipboard refused: the hash is still updated */ });
        }
      });
      h.appendChild(document.createTextNode(' '));
      h.appendChild(a);
    });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
