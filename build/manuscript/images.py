"""Images, checked and made local in the HTML stage, where the Markdown names them.

Remote images (``![](https://…)``) are fetched once into ``ci/cache/images/``, named by
their content's sha256, and the page refers to a local copy instead:
``remote-images/<sha256>.<ext>`` beside ``manuscript.html``. The write stage copies
the ones the page uses to ``output/remote-images/``, the website publishes that
folder with the page, and the PDF (made from the same HTML) reads the same files; so
a reader's browser makes no third-party request and an offline build has every image
it ever fetched.

Local images are checked here too, so a missing file is reported with the Markdown
``file:line`` that uses it (an error with --strict), not as a WeasyPrint message.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from . import remote
from .config import Config
from .errors import ContentError, OutputError
from .fsutil import digest, read_json_state, write_text_atomic
from .limits import env_limit
from .network import Budget, FetchError
from .sources import find_occurrences

logger = logging.getLogger(__name__)

REMOTE_DIR = "remote-images"  # beside manuscript.html: in output/, the website, the PDF
# What the PDF, Word and the Typst PDF show for an image they cannot have.
PLACEHOLDER_SVG = (
    # A viewBox keeps the drawing inside whatever box the figure gives the image (a
    # width or height set in the Markdown): scaled as a whole, never stretched past it.
    '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="60" viewBox="0 0 320 60" '
    'preserveAspectRatio="xMidYMid meet">'
    '<rect x="0.5" y="0.5" width="319" height="59" fill="#eee" stroke="#999"/>'
    # the theme's bundled sans (as the page): the PDF embeds no font of the machine's
    '<text x="160" y="35" text-anchor="middle" '
    'font-family="\'Source Sans 3\', sans-serif" font-size="14">'
    "Image not available</text></svg>"
)
MAX_BYTES = 20 * 2**20  # per image
TIMEOUT = 20.0  # seconds per image
BUDGET = 60.0  # seconds for all the downloads of one build
# What browsers and WeasyPrint both show (Pillow's format names).
_RASTER = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif", "WEBP": ".webp"}
_CACHED_NAME = re.compile(r"[0-9a-f]{64}\.(png|jpg|gif|webp|svg)")


@dataclass(frozen=True)
class ImageRef:
    node: dict  # the pandoc AST Image element
    target: str


def is_remote(target: str) -> bool:
    return urlsplit(target).scheme in ("http", "https")


def is_local(target: str) -> bool:
    return not urlsplit(target).scheme and not target.startswith("#")


def prepare(config: Config, ast: dict) -> None:
    """Before pandoc's HTML run: remote images → local copies, local ones checked.

    ``<img>`` written as raw HTML is checked too, but stays as written.
    """
    refs: list[ImageRef] = []
    raw_html: list[str] = []
    _collect(ast["blocks"], refs, raw_html)
    raw = list(dict.fromkeys(src for text in raw_html for src in _img_sources(text)))
    _localise(config, [ref for ref in refs if is_remote(ref.target)])
    _check_local(config, [ref.target for ref in refs if is_local(ref.target)]
                 + [src for src in raw if is_local(src)])
    if config.offline:
        for src in filter(is_remote, raw):
            _warn(config, src, "remote image in raw HTML is not fetched offline; the PDF "
                               "shows a placeholder")


def stage_key(config: Config) -> str:
    """What the HTML stage reads besides the Markdown: the image cache and content's files.

    While an image could not be fetched the key is new on every build, so the HTML is
    made again (and the problem reported again) until it can. Offline no fetch is
    tried, so the same key: the recorded warnings are logged again instead.
    """
    index = _Index.load(config)
    if index.unresolved and not config.offline:
        return f"unresolved-{time.time_ns()}"
    names = sorted(p.relative_to(config.content_dir).as_posix()
                   for p in config.content_dir.rglob("*") if p.is_file())
    return digest([json.dumps(index.images, sort_keys=True), str(config.offline), *names])


def cache_remote(config: Config, ast: dict) -> dict[str, Path]:
    """URL → its copy in ci/cache for each remote image of ``ast``, fetched now (through
    the door) when not cached yet; quietly: the html stage reports what failed, with its
    places. The format worker gets this mapping and never fetches itself."""
    refs: list[ImageRef] = []
    _collect(ast["blocks"], refs, [])
    urls = list(dict.fromkeys(ref.target for ref in refs if is_remote(ref.target)))
    if urls:
        index = _Index.load(config)
        before = dict(index.images)
        budget = _budget(config)
        for url in urls:
            if index.cached(url) is None and not config.offline:
                with suppress(FetchError):
                    _download(config, index, url, budget)
        if index.images != before:
            index.save()
    found = cached_remote_files(config)
    return {url: found[url] for url in urls if url in found}


def cached_remote_files(config: Config) -> dict[str, Path]:
    """URL → its copy in ci/cache, for each remote image an earlier build fetched (no
    fetch here): the other formats take their images from this cache too."""
    index = _Index.load(config)
    return {url: index.folder / name for url in index.images
            if (name := index.cached(url)) is not None}


# ------------------------------------------------------------------ remote images


class _Index:
    """``ci/cache/images/index.json``: URL → cached file name, and what failed last time."""

    def __init__(self, folder: Path, images: dict[str, str], unresolved: list[str]) -> None:
        self.folder, self.images, self.unresolved = folder, images, unresolved

    @classmethod
    def load(cls, config: Config) -> _Index:
        folder = config.cache_dir / "images"
        data = read_json_state(folder / "index.json", "remote images are fetched again")
        images = data.get("images") if isinstance(data, dict) else None
        unresolved = data.get("unresolved") if isinstance(data, dict) else None
        return cls(folder, images if isinstance(images, dict) else {},
                   unresolved if isinstance(unresolved, list) else [])

    def cached(self, url: str) -> str | None:
        name = self.images.get(url)
        # Only names this module writes: the index is a file anyone could edit.
        if not isinstance(name, str) or not _CACHED_NAME.fullmatch(name):
            return None
        return name if (self.folder / name).is_file() else None

    def save(self) -> None:
        text = json.dumps({"images": self.images, "unresolved": sorted(self.unresolved)},
                          indent=1, sort_keys=True)
        write_text_atomic(self.folder / "index.json", text + "\n")


def _localise(config: Config, refs: list[ImageRef]) -> None:
    index = _Index.load(config)
    before = (dict(index.images), list(index.unresolved))
    index.unresolved = []
    budget = _budget(config)
    try:
        for url in dict.fromkeys(ref.target for ref in refs):
            name = index.cached(url) or _fetch(config, index, url, budget)
            if name is None:
                index.unresolved.append(url)
                continue
            for ref in refs:
                if ref.target == url:
                    ref.node["c"][2][0] = f"{REMOTE_DIR}/{name}"
        if (index.images, index.unresolved) != before:
            index.save()
    except OSError as error:  # a read-only or full ci/cache: the cache cannot be kept
        raise OutputError(f"cannot write the cache of remote images "
                          f"({error.strerror or error})", index.folder) from None


def _budget(config: Config) -> Budget:
    """One allowance for all the remote images of a run, kept on the run's door so the
    worker's prefetch (cache_remote) and the html stage share it."""
    shared = config.network.shared
    if "images.budget" not in shared:
        shared["images.budget"] = Budget(env_limit("MANUSCRIPT_REMOTE_BUDGET", BUDGET))
    return shared["images.budget"]  # type: ignore[return-value]


def _fetch(config: Config, index: _Index, url: str, budget: Budget) -> str | None:
    if config.offline:
        _warn(config, url, "remote image is not in ci/cache and the build is offline; the "
                           "page links to it and the PDF shows a placeholder")
        return None
    try:
        name = _download(config, index, url, budget)
    except _NotAnImage as error:
        _warn(config, url, f"remote image is not a PNG, JPEG, GIF, WebP or SVG image "
                           f"({error.message}); not used")
        return None
    except FetchError as error:
        _warn(config, url, f"remote image could not be fetched ({error.message}); the page "
                           "links to it and the PDF shows a placeholder")
        return None
    logger.info("fetched image %s", url)
    return name


class _NotAnImage(FetchError):
    pass


def _download(config: Config, index: _Index, url: str, budget: Budget) -> str:
    """Fetch ``url`` (through the door) into the cache; its cached name. A URL that
    failed earlier in the run (the worker's prefetch) fails again without a request."""
    door = config.network
    failures: dict[str, FetchError] = door.shared.setdefault("images.failures", {})  # type: ignore[assignment]
    if url in failures:
        raise failures[url]
    try:
        fetched = door.fetch(url, max_bytes=MAX_BYTES, budget=budget,
                             timeout=env_limit("MANUSCRIPT_REMOTE_TIMEOUT", TIMEOUT))
        extension = image_extension(fetched.data)
        if extension is None:
            raise _NotAnImage(fetched.content_type or "no content type")
    except FetchError as error:
        failures[url] = error
        raise
    name = hashlib.sha256(fetched.data).hexdigest() + extension  # as sha256sum prints it
    remote.store(index.folder / name, fetched.data)
    index.images[url] = name
    return name


def image_extension(data: bytes) -> str | None:
    """The file extension for image bytes a browser and WeasyPrint show, else None."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    # Pillow does not read SVG; an SVG document is XML whose root element is <svg>.
    if (head.startswith((b"<svg", b"<?xml", b"<!--", b"<!doctype svg")) and b"<svg" in head
            and b"<html" not in head):
        return ".svg"
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return _RASTER.get(image.format or "")
    except (UnidentifiedImageError, OSError, ValueError):
        return None


# ------------------------------------------------------------------ local images


def _check_local(config: Config, targets: list[str]) -> None:
    published = (config.content_dir / "images").resolve()
    for target in dict.fromkeys(targets):
        relative = unquote(urlsplit(target).path)
        if not relative:
            continue
        path = (config.content_dir / relative).resolve()
        if not path.is_file():
            if config.strict:
                file, line = (_places(config, target) or [(None, None)])[0]
                raise ContentError(f"image not found: {target} (paths are relative to "
                                   "content/)", file, line)
            _warn(config, target, "image not found (paths are relative to content/)")
        elif not path.is_relative_to(published):
            _warn(config, target, "image is outside content/images/: the PDF shows it but "
                                  "the web page does not (only content/images/ is published)")


# ------------------------------------------------------------------ PDF and website


@contextmanager
def pdf_base(config: Config) -> Iterator[Path]:
    """A folder laid out as the page sees its files, for the PDF's relative URLs.

    The HTML lives beside ``images/`` (content/images) and ``remote-images/`` (the
    cache); WeasyPrint resolves the same relative URLs against this folder. Every
    other entry of content/ is linked too, so what resolved against content/ before
    still does.
    """
    with tempfile.TemporaryDirectory(prefix="manuscript-page-") as tmp:
        base = Path(tmp)
        if config.content_dir.is_dir():
            for entry in config.content_dir.iterdir():
                if entry.name != REMOTE_DIR:
                    (base / entry.name).symlink_to(entry.resolve())
        cache = config.cache_dir / "images"
        if cache.is_dir():
            (base / REMOTE_DIR).symlink_to(cache.resolve())
        yield base


def remote_files(config: Config, html: str) -> dict[str, Path]:
    """The cached remote images the page refers to: file name → its copy in ci/cache.

    An image the page names that is in neither ``output/`` nor the cache (the cache was
    deleted) is reported; the build that fetched it is needed again.
    """
    if f"{REMOTE_DIR}/" not in html:
        return {}  # the usual case: no remote images, nothing to parse
    found: dict[str, Path] = {}
    for name in sorted(remote_names(html)):
        for source in (config.cache_dir / "images" / name, config.output_dir / REMOTE_DIR / name):
            if source.is_file():
                found[name] = source
                break
        else:
            logger.warning("%s/%s is neither in output/ nor in ci/cache: rebuild with the "
                           "network to fetch it again", REMOTE_DIR, name)
    return found


def page_assets(config: Config) -> list[Path]:
    """Folders the website publishes beside the page."""
    candidates = [config.content_dir / "images", config.output_dir / REMOTE_DIR]
    return [path for path in candidates if path.is_dir()]


def remote_names(html: str) -> set[str]:
    """File names of ``<img src="remote-images/…">`` in a page."""
    parser = _ImageSources()
    parser.feed(html)
    prefix = f"{REMOTE_DIR}/"
    return {src[len(prefix):] for src in parser.sources
            if src.startswith(prefix) and _CACHED_NAME.fullmatch(src[len(prefix):])}


class _ImageSources(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources.extend(value for name, value in attrs if name == "src" and value)


# ------------------------------------------------------------------ helpers


def _collect(node: dict | list, refs: list[ImageRef], raw_html: list[str]) -> None:
    """The Image elements and raw HTML texts under ``node``, in document order.

    One walk, a plain recursive function appending to lists (the AST's depth was
    bounded when it was parsed): two recursive generator walks took 0.2-0.4 s on a
    large manuscript.
    """
    if isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                _collect(item, refs, raw_html)
        return
    kind = node.get("t")
    if kind == "Image":
        refs.append(ImageRef(node, node["c"][2][0]))
    elif kind in ("RawInline", "RawBlock"):
        if node["c"][0] == "html":
            raw_html.append(node["c"][1])
        return
    for value in node.values():
        if isinstance(value, dict | list):
            _collect(value, refs, raw_html)


def _img_sources(html: str) -> list[str]:
    """``<img src>`` of a raw HTML text; a text without "img" holds none (the parser
    lower-cases tag names), and most raw HTML (spans, divs, comments) has none."""
    if "img" not in html.lower():
        return []
    parser = _ImageSources()
    parser.feed(html)
    return parser.sources


# Where a source line names an image: ``](target``, ``src="target"``, a reference
# definition ``[id]: target``, CSS ``url(target)``, metadata ``thumbnail: target``.
_IMAGE_CONTEXT = (r"(?:\]\(\s*<?|\bsrc\s*=\s*[\"']?|^\s*\[[^\]]*\]:\s*<?"
                  r"|\burl\(\s*[\"']?|^\s*thumbnail:\s*[\"']?)")


def _places(config: Config, target: str) -> list[tuple[Path, int]]:
    """The lines that name ``target`` as an image, not every line where its text occurs:
    ``<img src="a">`` was reported at every line holding the letter "a" (issue #18).
    A path-like target named nowhere as an image (built by a template) falls back to its
    plain occurrences; a short word gets no place rather than dozens of wrong ones."""
    pattern = re.compile(_IMAGE_CONTEXT + re.escape(target) + r"(?=[\s)\"'>]|$)")
    places: list[tuple[Path, int]] = []
    content = config.content_dir
    for path in [*sorted(content.glob("[0-9]*.md")), content / "metadata.yaml"]:
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8-sig", errors="replace")
        places += [(path, number) for number, line in enumerate(text.splitlines(), start=1)
                   if target in line and pattern.search(line)]
    if places or not re.search(r"[./]", target):
        return places
    return find_occurrences(content, target)


def _warn(config: Config, target: str, message: str) -> None:
    """One warning per place in the sources that names ``target`` (or one without)."""
    places = _places(config, target)
    for path, line in places or [(None, None)]:
        where = f"{path.relative_to(config.root)}:{line}: " if path else ""
        logger.warning("%s%s: %s", where, message, target, extra={"file": path, "line": line})
