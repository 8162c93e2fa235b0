"""A rootstock repository's own files, options and switches: honoured, or reported once.

An existing Manubot manuscript brings rootstock's ``build/`` folder, CI workflow and
environment switches along. What still means something here is honoured (a CSL style
by path or URL, ``BUILD_PDF``, ``manubot-randomize-author-order``, template variables
by URL); what this pipeline replaces (the theme, plugins, pandoc filters, math
method…) is reported with one warning at normal level — but only when the manuscript
*changed* it from rootstock's stock version, so a fresh rootstock fork builds quietly.
Its environment switches (``BUILD_PDF``, ``BUILD_DOCX``, ``SPELLCHECK``…) are read in
config.py, the one place that turns them into options.

"Stock" is recognised by digests of rootstock's own files (never copies of them):
text is normalised (line endings, trailing whitespace) before hashing, so a checkout
with CRLF line endings is still stock.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from . import remote
from .config import CONFIG_FILE, Config, VariablesFile
from .errors import ConfigError
from .limits import env_limit
from .network import FetchError

logger = logging.getLogger(__name__)

# Rootstock releases whose stock files we recognise (commit: where the digests come from).
RELEASES = ("f44f9bbe35441a8acd51a5898e6e739acaf54c1c",)

# sha256 of the normalised text (see normalised_digest) of each stock file, any release.
STOCK_FILES: dict[str, frozenset[str]] = {path: frozenset(digests) for path, digests in {
    "build/build.sh": ["3f932695a3d968100308df11e27e9859e1fbc787586a55c0ec6b844af8561201"],
    "build/themes/default.html": [
        "3cd702cb48371f942a343fdec3926cc390d9941f1bf1b6cca995ef7e279f1cd0"],
    "build/plugins/accordion.html": [
        "5a12fbd5c7fb739bba4a1f68ec90fcc6005ee398246f37f8777a30764987dae7"],
    "build/plugins/analytics.html": [
        "dcc0d3db4394a38dd1726b887cfd223b96bb1d5aa9e90f5c844dee7eb24c00e3"],
    "build/plugins/anchors.html": [
        "2e8d00160c607060b4d54e0b33152f4d198cf6fac5d2882d7406ccb961545360"],
    "build/plugins/attributes.html": [
        "d852cfa4cd90201c5fce627038bf7c514ffb1443330958a01148cc63e9546952"],
    "build/plugins/core.html": [
        "976e8aae23453be0b9e7f484c5e0d17316c1cf8710921311e1122a318ed9b9c1"],
    "build/plugins/d3.html": [
        "3bd06eece0e289fd69fac0fe652c960d5f8450e14aee82acd6276824089bc579"],
    "build/plugins/hypothesis.html": [
        "5fb94eb39882a236bb57f2a1ce2d60536baa4dd0544d960dd702ec4d3571c38a"],
    "build/plugins/inline-svg.html": [
        "d60f052eb0ddaa04fc4f1e7fe0a0667e7171873e303b8410c2f29f80ef0f6fbe"],
    "build/plugins/jump-to-first.html": [
        "ac3029c67918dcf69caaaa20ba6c4fc01d2e0542ee8431330444e3d75c631ca9"],
    "build/plugins/lightbox.html": [
        "937d562d0f2c12c61d90bd851a32612084020f8cb47a414902db77e8a65c576c"],
    "build/plugins/link-highlight.html": [
        "9f47ca7051a3f0a4d7f8cb0d74a06a3939673d21ee26372f38b09ab87dd8ae59"],
    "build/plugins/mathjax.html": [
        "103b09ddec3655579ddb31d9726fd350e704188ab796c22230b27c79eded2a38"],
    "build/plugins/scite.html": [
        "28b5399d6d71c471dbdfc8e33acdfc7fae639cb791a01c61e6b5e689fa8e853f"],
    "build/plugins/table-of-contents.html": [
        "7b851ea7b4320aceaa9f804a00a236474ee800ff85e6e76e5c355819bdf1e4d8"],
    "build/plugins/tooltips.html": [
        "7a7618796cd3291d0f812091d4d0270cde788d9f535eef8d27c870e5c19739d5"],
}.items()}

# Per defaults file, per top-level key: value_digest() of the stock value.
STOCK_DEFAULTS: dict[str, dict[str, frozenset[str]]] = {
    name: {key: frozenset([digest]) for key, digest in keys.items()} for name, keys in {
        "common.yaml": {
            "from": "1ee02809a8317fa8", "input-file": "58f9216f775047b1",
            "filters": "c904b3ffb97f0b09", "wrap": "82307ef7cf9dbff3",
            "metadata": "5c24a9fd2497e17a",
        },
        "html.yaml": {
            "to": "ff292aac33c9eed9", "output-file": "4cacbfa3611ce3c6",
            "include-after-body": "6a7aabd9035823c3", "variables": "ab82804ee6a64ce6",
            "html-math-method": "2fef6cd743afea27",
        },
        "pdf-weasyprint.yaml": {
            "output-file": "75fce8b427db547b", "pdf-engine": "800c4af6f5229cd0",
            "pdf-engine-opts": "ba6220869b6d2d1f", "html-math-method": "ca8301d72c33a2c4",
        },
    }.items()}

# The defaults files this pipeline reads (rootstock's HTML and WeasyPrint PDF runs).
DEFAULTS_FILES = ("common.yaml", "html.yaml", "pdf-weasyprint.yaml")

# What replaces a pandoc defaults key that this pipeline does not pass to pandoc.
_REPLACED_BY = {
    "html-math-method": "math is MathML in the HTML and SVG in the PDF",
    "include-after-body": "the page's theme and scripts come from build/theme/ "
                          "(template.html, css/*.css, js/*.js)",
    "include-before-body": "the page's theme comes from build/theme/template.html",
    "include-in-header": "the page's theme comes from build/theme/ (css/*.css)",
    "template": "put a template in build/theme/template.html",
    "css": "put style sheets in build/theme/css/*.css",
    "pdf-engine": "the PDF is made by WeasyPrint, in-process, from the HTML",
    "pdf-engine-opts": "the PDF is made by WeasyPrint, in-process, from the HTML",
    "from": "content/ is read as Manubot Markdown",
    "input-file": "content/ is read as Manubot Markdown",
    "to": "output/manuscript.html and output/manuscript.pdf are written",
    "output-file": "output/manuscript.html and output/manuscript.pdf are written",
}

# The pandoc filters a repository's defaults may list whose work is done here, and by
# what; any other filter is reported once, by name, with the line that lists it.
_XNOS_FILTER = "our cross-reference filter (crossref.lua) numbers and references them"
HONOURED_FILTERS = {
    "pandoc-fignos": _XNOS_FILTER, "pandoc-tablenos": _XNOS_FILTER,
    "pandoc-eqnos": _XNOS_FILTER, "pandoc-secnos": _XNOS_FILTER, "pandoc-xnos": _XNOS_FILTER,
    "pandoc-manubot-cite": "the cite stage resolves citations as manubot's filter did",
    "citeproc": "pandoc's citeproc formats the citations",
    "pandoc-citeproc": "pandoc's citeproc formats the citations",
    "pandoc-url2cite": "citations of URLs ([@https://…]) are looked up by the cite stage",
    "spellcheck.lua": "the spelling check (`manuscript check`, or SPELLCHECK=true)",
}

_THEME_HOWTO = ("this pipeline uses its own theme instead (README: Coming from rootstock). "
                "To carry changes over, put CSS in build/theme/css/*.css, scripts in "
                "build/theme/js/*.js, or a whole page template in build/theme/template.html")

# Plugins whose usual customisation has a setting of its own here.
_PLUGIN_HINTS = {
    "build/plugins/analytics.html": "an analytics snippet goes in metadata.yaml as "
                                    "`manuscript-analytics: |` followed by the snippet",
    "build/plugins/hypothesis.html": "`manuscript-hypothesis: true` in metadata.yaml turns "
                                     "Hypothesis annotations on",
}


# ------------------------------------------------------------------ stock files


def normalised_digest(data: bytes) -> str:
    """sha256 of text with LF line endings, no trailing spaces and no blank ends."""
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    return hashlib.sha256(("\n".join(lines).strip("\n") + "\n").encode("utf-8")).hexdigest()


def value_digest(value: object) -> str:
    """A pandoc defaults value, compared by meaning (YAML layout and comments aside)."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def changed_theme_files(root: Path) -> list[str]:
    """rootstock's theme and plugin files in ``root`` that are not a stock version."""
    candidates = [root / "build" / "themes" / "default.html",
                  *sorted((root / "build" / "plugins").glob("*.html"))]
    changed = []
    for path in candidates:
        if not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        if normalised_digest(path.read_bytes()) not in STOCK_FILES.get(rel, frozenset()):
            changed.append(rel)
    return changed


def report_customisations(root: Path) -> None:
    """One warning for a changed rootstock theme/plugins, one for a changed build.sh
    (until the repository has a manuscript.toml)."""
    changed = changed_theme_files(root)
    if changed:
        hints = "".join(f"; {_PLUGIN_HINTS[rel]}" for rel in changed if rel in _PLUGIN_HINTS)
        logger.warning("%s differ%s from rootstock's stock files and are not used: %s%s",
                       ", ".join(changed), "s" if len(changed) == 1 else "", _THEME_HOWTO,
                       hints, extra={"file": root / changed[0], "line": None})

    # Once manuscript.toml exists the repository is set up for this pipeline (`manuscript
    # init --adopt` carried build.sh's options there and listed what it could not).
    script = root / "build" / "build.sh"
    if (script.is_file() and not (root / CONFIG_FILE).is_file()
            and normalised_digest(script.read_bytes()) not in STOCK_FILES["build/build.sh"]):
        logger.warning("build/build.sh differs from rootstock's and is not run: `manuscript "
                       "build` replaces it; `manuscript init --adopt` carries its manubot "
                       "process options and BUILD_PDF default into manuscript.toml",
                       extra={"file": script, "line": None})


def report_replaced_key(root: Path, path: Path, key: str, value: object,
                        line: int | None) -> None:
    """A pandoc defaults key this pipeline does not use: warn if changed from stock."""
    stock = STOCK_DEFAULTS.get(path.name, {}).get(key)
    if stock is not None and value_digest(value) in stock:
        logger.debug("%s: %r is rootstock's stock value, replaced by this pipeline",
                     path.name, key)
        return
    instead = _REPLACED_BY.get(key, "this pipeline does not pass it to pandoc")
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    where = f"{rel}:{line}: " if line else f"{rel}: "
    logger.warning("%s%r differs from rootstock's stock defaults and is not used: %s",
                   where, key, instead, extra={"file": path, "line": line})


def report_filters(root: Path, path: Path, value: object, text: str,
                   reported: set[str]) -> None:
    """The ``filters:`` of a defaults file: each one is honoured (HONOURED_FILTERS) or
    reported once by name, with the line that lists it, as not run. ``reported``: the
    names warned about already (by another defaults file)."""
    items = value if isinstance(value, list) else [] if value is None else [value]
    lines = _item_lines(text, "filters")
    rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
    for index, item in enumerate(items):
        if item is None:  # an empty entry: nothing to run
            continue
        name = filter_name(item)
        if name in HONOURED_FILTERS:
            logger.debug("%s: filter %s: %s", rel, name, HONOURED_FILTERS[name])
            continue
        if name in reported:
            continue
        reported.add(name)
        line = lines[index] if index < len(lines) else None
        where = f"{rel}:{line}: " if line else f"{rel}: "
        logger.warning("%spandoc filter %r is not supported and is not run (README: Coming "
                       "from rootstock lists the filters this pipeline honours)", where, name,
                       extra={"file": path, "line": line})


def filter_name(item: object) -> str:
    """A defaults ``filters:`` entry's name: ``pandoc-fignos``, ``spellcheck.lua``,
    ``citeproc`` (``{type: citeproc}``), or a path's file name."""
    if isinstance(item, dict):
        kind, where = item.get("type"), item.get("path")
        item = where if where else kind
    return Path(str(item)).name


def _item_lines(text: str, key: str) -> list[int]:
    """The line of each item of the top-level list ``key``."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return []
    if not isinstance(node, yaml.MappingNode):
        return []
    for name, value in node.value:
        if name.value == key and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
        if name.value == key:
            return [value.start_mark.line + 1]
    return []


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Line of each top-level key, and of each key one level down (``("metadata", "csl")``)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return {}
    lines: dict[tuple[str, ...], int] = {}
    if not isinstance(node, yaml.MappingNode):
        return lines
    for key, value in node.value:
        lines[(str(key.value),)] = key.start_mark.line + 1
        if isinstance(value, yaml.MappingNode):
            for sub, _ in value.value:
                lines[(str(key.value), str(sub.value))] = sub.start_mark.line + 1
    return lines


# ------------------------------------------------------------------ metadata


def author_order(config: Config, metadata: dict, manubot: dict, authors: list) -> list:
    """``manubot-randomize-author-order``: authors shuffled as manubot shuffles them.

    manubot seeds ``random.Random`` with ``manubot-randomize-author-order-seed`` or
    the HEAD commit and takes ``sample(authors, k=len(authors))``; the same call here
    gives the same order for the same commit. It records both settings in
    ``variables.json`` as manubot does.
    """
    randomize = bool(metadata.pop("manubot-randomize-author-order", False))
    manubot["randomize_author_order"] = randomize
    if not randomize:
        return authors
    seed = metadata.pop("manubot-randomize-author-order-seed", None) or config.ci.head
    if seed is None:
        logger.warning("metadata.yaml: manubot-randomize-author-order needs a git commit "
                       "(or manubot-randomize-author-order-seed) to seed the order; "
                       "authors keep their order")
        return authors
    manubot["randomize_author_order_seed"] = seed
    return random.Random(seed).sample(authors, k=len(authors))


# manubot's namespace syntax: a Jinja2 identifier, "=", then the path or URL.
_VARIABLE_SUFFIXES = (".json", ".yaml", ".yml", ".toml")
VARIABLES_MAX_BYTES = 10 * 2**20
VARIABLES_TIMEOUT = 30.0


def cached_template_variables(config: Config, spec: VariablesFile) -> VariablesFile:
    """A ``[NS=]URL`` spec → the same spec naming its copy in ``ci/cache/``.

    manubot reads template variables from http(s) URLs too; here they are fetched once
    into ``ci/cache/`` (as citations are) and read from there offline. The cached
    file keeps the format suffix of the URL (or of its last redirect), JSON otherwise,
    as manubot infers it.
    """
    location = spec.location
    for suffix in _VARIABLE_SUFFIXES:
        cached = remote.cache_by_url(config.cache_dir, location, suffix)
        if cached.is_file():
            return replace(spec, path=cached)
    if config.offline:
        raise ConfigError(f"template variables {location} are not in ci/cache and the build "
                          "is offline; build once online, or download the file and name "
                          "its path")
    try:
        fetched = config.network.fetch(location, max_bytes=VARIABLES_MAX_BYTES,
                                       timeout=env_limit("MANUSCRIPT_REMOTE_TIMEOUT",
                                                         VARIABLES_TIMEOUT))
    except FetchError as error:
        raise ConfigError(f"cannot fetch template variables {location}: "
                          f"{error.message}") from None
    suffix = _suffix(location) or _suffix(fetched.url) or ".json"
    logger.info("fetched template variables %s", location)
    cached = remote.store(remote.cache_by_url(config.cache_dir, location, suffix), fetched.data)
    return replace(spec, path=cached)


def _suffix(url: str) -> str | None:
    suffixes = Path(urlsplit(url).path).suffixes + Path(urlsplit(url).fragment).suffixes
    found = [s for s in suffixes if s in _VARIABLE_SUFFIXES]
    return found[-1] if found else None
