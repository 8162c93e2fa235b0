"""``manuscript screenshot``: PNGs of ``output/manuscript.html`` at desktop and phone width,
in light and dark mode, for a quick visual review (or a pull-request comment).

The page is served over HTTP on 127.0.0.1 rather than opened as a ``file://`` URL: that is
how readers see it (relative image paths, same-origin rules, ``fetch``), and it is the same
setup the browser tests use. The pieces the tests share live here — the Chromium path and
launch arguments, and the little static file server — so the two cannot drift apart.

Chromium is the system one (``apt-get install chromium``), driven by Playwright; we never
download Playwright's own browser build (CI and many sandboxes cannot reach its CDN).
"""

from __future__ import annotations

import functools
import io
import logging
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Config
from .errors import RenderError

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

logger = logging.getLogger(__name__)

CHROMIUM_PATH = Path("/usr/bin/chromium")
CHROMIUM_INSTALL_HINT = ("install it with: apt-get install chromium, or "
                         "python -m playwright install chromium")
PLAYWRIGHT_INSTALL_HINT = "install it with: pip install playwright (no 'playwright install')"

# Headless, and nothing that phones home: a screenshot (or a test asserting "no request to
# any other host") must not be disturbed by Chromium's own background traffic.
# --no-sandbox: containers usually lack the user namespaces the sandbox needs.
# --disable-dev-shm-usage: /dev/shm is tiny in Docker; Chromium then crashes on big pages.
CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)

PAGE = "manuscript.html"
SCREENS_TALL = 3  # cap full-page shots at this many viewport heights: small files, enough to judge


@dataclass(frozen=True)
class Shot:
    name: str
    width: int
    height: int
    mobile: bool


SHOTS: tuple[Shot, ...] = (
    Shot("desktop-1280", 1280, 800, mobile=False),
    Shot("phone-375", 375, 667, mobile=True),
)
COLOR_SCHEMES: tuple[str, ...] = ("light", "dark")


def find_chromium(playwright: Playwright | None = None) -> Path:
    """The system's Chromium, else Playwright's own (``python -m playwright install
    chromium``), or a RenderError saying how to get either.

    The system's comes first: it is updated with the machine and is what CI installs.
    Pass the running ``playwright`` when there is one (a second sync Playwright cannot
    start inside the first); without it, one is started briefly to ask for the path.
    """
    if CHROMIUM_PATH.is_file():
        return CHROMIUM_PATH
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return Path(found)
    own = Path(playwright.chromium.executable_path) if playwright else _playwright_chromium()
    if own is not None and own.is_file():
        return own
    raise RenderError(f"chromium not found at {CHROMIUM_PATH}, on PATH or installed by "
                      f"Playwright; {CHROMIUM_INSTALL_HINT}")


def _playwright_chromium() -> Path | None:
    # Asked in a child process: a sync Playwright cannot start where one already runs
    # (the browser tests, an asyncio loop), and the answer is where Playwright itself
    # would install its browser, whatever its version and PLAYWRIGHT_BROWSERS_PATH.
    ask = ("from playwright.sync_api import sync_playwright\n"
           "with sync_playwright() as p: print(p.chromium.executable_path)")
    try:
        completed = subprocess.run([sys.executable, "-c", ask], capture_output=True,
                                   text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        logger.debug("could not ask Playwright for its Chromium: %s", error)
        return None
    if completed.returncode != 0:  # no Playwright, or no driver for this platform
        logger.debug("Playwright could not name its Chromium: %s", completed.stderr.strip())
        return None
    return Path(completed.stdout.strip())


def launch_chromium(playwright: Playwright) -> Browser:
    """Launch Chromium (see find_chromium) headless with CHROMIUM_ARGS."""
    executable = find_chromium(playwright)
    try:
        return playwright.chromium.launch(
            executable_path=str(executable), args=list(CHROMIUM_ARGS), headless=True
        )
    except Exception as error:  # playwright raises its own Error; keep the first line only
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise RenderError(f"could not start {executable}: {first_line}") from error


class _QuietHandler(SimpleHTTPRequestHandler):
    """Static files without the per-request log line on stderr (it would bury real output)."""

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("http: " + format, *args)

    def end_headers(self) -> None:
        # Every build rewrites the files; a browser must never show a stale copy.
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


@contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (an ephemeral port) in a thread; yield its base URL.

    Symlinks are followed (``output/images`` → ``../content/images``).
    """
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True  # a hanging keep-alive connection must not block shutdown
    thread = threading.Thread(target=server.serve_forever, name="manuscript-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def take_screenshots(config: Config) -> list[Path]:
    """Write ``output/screenshots/{desktop-1280,phone-375}-{light,dark}.png`` and, under
    ``screenshots/crops/``, a figure, a table, an equation and the start of the references
    of each; return the paths."""
    page_path = config.output_dir / PAGE
    if not page_path.is_file():
        raise RenderError(f"{page_path} does not exist; run 'manuscript build' first")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        raise RenderError(f"playwright is not installed; {PLAYWRIGHT_INSTALL_HINT}") from error
    find_chromium()  # fail with the install hint before starting Playwright's driver

    out_dir = config.output_dir / "screenshots"
    (out_dir / "crops").mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with serve_directory(config.output_dir) as base_url, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            for shot in SHOTS:
                for scheme in COLOR_SCHEMES:
                    written += _screenshot(browser, base_url + PAGE, shot, scheme, out_dir)
        finally:
            browser.close()
    return written


# What authors and reviewers look at closely: the first of each, by CSS selector.
CROPS: tuple[tuple[str, str], ...] = (
    ("figure", "figure"),
    ("table", ".tablenos, .table-scroll, table"),
    ("equation", ".eqnos, math[display='block']"),
)
TIMEOUT_MS = 60_000  # per step; a long manuscript must not end in a traceback
CROP_TIMEOUT_MS = 15_000


def _screenshot(browser: Browser, url: str, shot: Shot, scheme: str, out_dir: Path) -> list[Path]:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

    # device_scale_factor=1 keeps the PNG width equal to the CSS width (1280 / 375 px).
    context = browser.new_context(
        viewport={"width": shot.width, "height": shot.height},
        device_scale_factor=1,
        is_mobile=shot.mobile,
        has_touch=shot.mobile,
        color_scheme=scheme,  # type: ignore[arg-type]  # "light" | "dark"
        reduced_motion="reduce",
    )
    context.set_default_timeout(TIMEOUT_MS)
    name = f"{shot.name}-{scheme}"
    try:
        page = context.new_page()
        page.goto(url, wait_until="load")
        page.evaluate("document.fonts.ready.then(() => true)")
        written = [_page_slices(page, shot, out_dir / f"{name}.png")]
        for label, selector in CROPS:
            element = page.locator(selector).filter(visible=True).first
            if not element.count():
                logger.debug("%s: no %s to crop (%s)", name, label, selector)
                continue
            path = out_dir / "crops" / f"{name}-{label}.png"
            try:
                element.screenshot(path=str(path), animations="disabled", timeout=CROP_TIMEOUT_MS)
            except PlaywrightTimeoutError:  # a crop is a bonus: say so and go on
                logger.warning("%s: the %s could not be captured in %d s", name, label,
                               CROP_TIMEOUT_MS // 1000)
                continue
            written.append(path)
        refs = page.locator("#refs")
        if refs.count():
            # the references' first screen: scrolled to the top of the viewport
            refs.evaluate("el => (el.closest('section') || el).scrollIntoView()")
            path = out_dir / "crops" / f"{name}-references.png"
            page.screenshot(path=str(path), animations="disabled")
            written.append(path)
        return written
    except PlaywrightError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise RenderError(f"screenshot {name} failed: {first_line}") from error
    finally:
        context.close()


def _page_slices(page: Page, shot: Shot, path: Path) -> Path:
    """The first SCREENS_TALL screens of the page, one viewport at a time, stitched.

    Not Playwright's ``full_page``: that resizes the viewport to the whole document (a
    90-page manuscript then times out) and lays out vh-sized and sticky parts differently
    from what a reader sees.
    """
    from PIL import Image

    # A sticky bar would be drawn again on every slice, over the text; as a sticky element
    # keeps its place in the flow, making it relative changes no layout.
    page.evaluate("""() => { for (const e of document.querySelectorAll('body *'))
      if (getComputedStyle(e).position === 'sticky') e.style.position = 'relative'; }""")
    full_height = int(page.evaluate("document.documentElement.scrollHeight"))
    height = max(shot.height, min(full_height, shot.height * SCREENS_TALL))
    canvas = Image.new("RGB", (shot.width, height))
    top = 0
    while top < height:
        page.evaluate("y => window.scrollTo(0, y)", top)
        scrolled = int(page.evaluate("window.scrollY"))
        data = page.screenshot(animations="disabled")
        part = Image.open(io.BytesIO(data)).convert("RGB")
        # at the end of the page the browser scrolls less than asked: skip the overlap
        part = part.crop((0, top - scrolled, shot.width, min(part.height, height - scrolled)))
        canvas.paste(part, (0, top))
        top += part.height
        if part.height == 0:
            break
    canvas.save(path, optimize=True)
    page.evaluate("window.scrollTo(0, 0)")
    logger.debug("%s: %dx%d (page %d px tall)", path.name, shot.width, height, full_height)
    return path


if __name__ == "__main__":
    # `python -m manuscript.screenshot`: print the Chromium that would be used, or exit 1
    # (the README's test command then installs Playwright's own).
    try:
        print(find_chromium())
    except RenderError as error:
        print(f"manuscript: {error}", file=sys.stderr)
        sys.exit(1)
