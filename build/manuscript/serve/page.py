"""What serve adds to the HTML it sends: the live-reload script and the problems overlay.

Both are added to responses only, never written to ``output/``: the built page stays
exactly what ``manuscript build`` makes. Each script's hash is added to the page's
Content-Security-Policy (``csp.allow_inline_script``), which allows nothing else inline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .. import csp

LIVERELOAD_PATH = "/__livereload"

Overlay = tuple[str, list[str]]  # the overlay's title, and one line per problem


@dataclass(frozen=True)
class Status:
    """What a served page was made from: the build it shows (``number``), the build
    attempts so far (a failed one changes the overlay, not the page) and the overlay."""

    number: int = 0
    attempts: int = 0
    overlay: Overlay | None = None


# The page polls with the build and attempt it shows. 200: a newer build or attempt
# exists, so reload (a failed attempt reloads the same page with its error on top);
# 204: nothing changed yet, poll again; a network error: the server is restarting.
_SCRIPT = """<script>
(function () {
  var v = %d;
  var a = %d;
  function poll() {
    fetch("%s?v=" + v + "&a=" + a, {cache: "no-store"}).then(function (r) {
      if (r.status === 200) { location.reload(); } else { poll(); }
    }, function () { setTimeout(poll, 2000); });
  }
  poll();
})();
</script>
"""

# The last build's problems over the page: a fixed, dismissible box. Built with DOM calls
# and CSSOM styles, which the page's CSP (script hashes, no inline styles) allows; the
# problems are JSON data, shown as text, never parsed as HTML.
_OVERLAY = """<script>
(function () {
  var report = %s;
  var box = document.createElement("section");
  box.id = "manuscript-problems";
  box.setAttribute("role", "alert");
  var s = box.style;
  s.position = "fixed"; s.right = "1rem"; s.bottom = "1rem"; s.zIndex = "2147483647";
  s.maxWidth = "min(48rem, calc(100vw - 2rem))"; s.maxHeight = "50vh"; s.overflow = "auto";
  s.background = "#fff8e1"; s.color = "#1a1a1a"; s.border = "2px solid #b71c1c";
  s.borderRadius = "6px"; s.padding = "0.75rem 1rem"; s.boxShadow = "0 4px 16px #0004";
  s.font = "13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace";
  var close = document.createElement("button");
  close.type = "button"; close.textContent = "\\u00d7"; close.title = "Dismiss";
  close.setAttribute("aria-label", "Dismiss");
  close.style.float = "right"; close.style.font = "inherit"; close.style.cursor = "pointer";
  close.addEventListener("click", function () { box.remove(); });
  var title = document.createElement("strong");
  title.textContent = report.title;
  var list = document.createElement("ul");
  list.style.margin = "0.5rem 0 0"; list.style.paddingLeft = "1.25rem";
  report.problems.forEach(function (text) {
    var item = document.createElement("li");
    item.textContent = text;
    item.style.whiteSpace = "pre-wrap";
    list.appendChild(item);
  });
  box.append(close, title, list);
  document.body.appendChild(box);
})();
</script>
"""

# Served at / while there is no page yet (the first build failed): the overlay tells
# why, and the reload script brings the page up as soon as a build succeeds.
_NO_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>No page yet: manuscript serve</title></head>
<body>
<h1>No page yet</h1>
<p>No build has succeeded yet. This page reloads when one does.</p>
</body>
</html>
"""


def inject(html: bytes, status: Status) -> bytes:
    """The page with the reload script (and the overlay, if any) before ``</body>``."""
    scripts = [_SCRIPT % (status.number, status.attempts, LIVERELOAD_PATH)]
    if status.overlay is not None:
        title, problems = status.overlay
        # JSON in a script: "<" escaped so no text can close the element early.
        data = json.dumps({"title": title, "problems": problems}).replace("<", "\\u003c")
        scripts.append(_OVERLAY % data)
    text = html.decode("utf-8")
    for script in scripts:
        text = csp.allow_inline_script(text, script.split(">", 1)[1].rsplit("</script>", 1)[0])
    added = "".join(scripts).encode("utf-8")
    page = text.encode("utf-8")
    at = page.lower().rfind(b"</body>")
    if at < 0:
        return page + added
    return page[:at] + added + page[at:]


def no_page(status: Status) -> bytes:
    """The stand-in for the manuscript before any build succeeded."""
    return inject(_NO_PAGE.encode("utf-8"), status)
