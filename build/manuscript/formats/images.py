"""Images for formats that embed them (Word, the Typst PDF).

pandoc would fetch a remote image itself, with no timeout and even offline, and Typst
cannot fetch at all. The formats never fetch (a worker once followed a redirect to an
internal address and published the answer in a DOCX): a remote image comes from the
HTML stage's image cache — the build fetches it through the door before the worker
starts and passes the mapping URL → cached file in the job (``use_remote``) — and a URL
not in it becomes the placeholder the PDF shows, with a warning. pandoc's Word writer needs
``rsvg-convert`` to give an SVG the PNG fallback older Word versions require; we
install no system tools, so for Word an SVG becomes a PNG: a same-named ``.png``
beside it when the author made one, else rasterised by Typst (already a dependency,
it draws SVG with resvg).
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

if TYPE_CHECKING:
    from ..config import Config

logger = logging.getLogger(__name__)

# How the image cache names files: the sha256 of the content (manuscript/images.py).
_CACHED_NAME = re.compile(r"[0-9a-f]{64}\.(png|jpg|gif|webp|svg)")

RASTER_PPI = 200
# Set in the format worker from its job: URL → the image cache's copy (see the docstring).
_remote: dict[str, Path] | None = None


def use_remote(mapping: Mapping[str, Path]) -> None:
    """The remote images the build fetched for this job (the worker calls this)."""
    global _remote
    _remote = dict(mapping)


MAX_RASTER_CM = (18, 24)  # width, height: a page's text area, with room
_PLACEHOLDER_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="60">'
    '<rect width="100%" height="100%" fill="#eee" stroke="#999"/>'
    '<text x="10" y="35" font-family="sans-serif" font-size="14">'
    "Image not available offline</text></svg>"
)


def images(node: object) -> Iterator[dict]:
    """Every Image element of a pandoc AST (or part of one)."""
    if isinstance(node, dict):
        if node.get("t") == "Image":
            yield node
        for value in node.values():
            yield from images(value)
    elif isinstance(node, list):
        for item in node:
            yield from images(item)


def is_remote(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def localize(ast: dict, config: Config, workdir: Path, *, raster: bool) -> None:
    """Point every Image at a local file under ``workdir``.

    Targets become paths relative to ``workdir``, in which ``content`` links to the
    manuscript's content folder, so a Typst root of ``workdir`` reaches both. A remote
    image the HTML stage already cached (``remote-images/<sha256>.<ext>``, see the
    package's images.py) is taken from that cache. Nothing is fetched here.
    """
    from ..images import cached_remote_files

    content_dir = config.content_dir
    link = workdir / "content"
    if not link.exists():
        link.symlink_to(content_dir.resolve(), target_is_directory=True)
    # A worker renders the document before the html stage has pointed its remote images
    # at the cache (build.document_stages): the build fetched them into it first and
    # sent the mapping (use_remote); in-process, the cache's index says the same.
    in_cache = _remote if _remote is not None else cached_remote_files(config)
    missing: dict[str, str] = {}
    for image in images(ast["blocks"]):
        target = image["c"][2][0]
        if target.startswith("data:"):
            continue
        cached = _cached_remote(config, target, workdir)
        if cached is None and target in in_cache:
            cached = _copy(in_cache[target], workdir)
        if cached is not None:
            local = cached
        elif is_remote(target):
            if target not in missing:
                logger.warning("remote image not in the image cache (%s); %s shows a "
                               "placeholder: %s", "offline build" if config.offline
                               else "it could not be fetched",
                               "Word" if raster else "the Typst PDF", target)
                missing[target] = _placeholder(workdir, "Image not available")
            local = missing[target]
        else:
            local = _local(target, content_dir)
            if local is None:
                local = _placeholder(workdir, "Image not found")
        if raster and local.lower().endswith(".svg"):
            local = _raster(workdir, local)
        image["c"][2][0] = local


def _cached_remote(config: Config, target: str, workdir: Path) -> str | None:
    """``remote-images/<sha256>.<ext>`` → a copy in ``workdir``, from the image cache."""
    from ..images import REMOTE_DIR

    folder, _, name = target.partition("/")
    if folder != REMOTE_DIR or not _CACHED_NAME.fullmatch(name):
        return None
    for source in (config.cache_dir / "images" / name, config.output_dir / REMOTE_DIR / name):
        if source.is_file():
            return _copy(source, workdir)
    return None


def _copy(source: Path, workdir: Path) -> str:
    """A cached image (named by its sha256) copied into ``workdir``; its name there."""
    (workdir / source.name).write_bytes(source.read_bytes())
    return source.name


def _local(target: str, content_dir: Path) -> str | None:
    """``content/<target>`` if that is a file inside the content folder, else None.

    Nothing outside content/ is embedded: an image path is the manuscript's, and a
    hostile one (``../../etc/passwd``) must not copy other files into the outputs.
    """
    content = content_dir.resolve()
    path = (content / unquote(target.split("?")[0].lstrip("/"))).resolve()
    if not path.is_relative_to(content) or not path.is_file():
        logger.warning("image not found in content/: %s", target)
        return None
    return f"content/{path.relative_to(content).as_posix()}"


def _placeholder(workdir: Path, text: str = "Image not available") -> str:
    """The PDF's placeholder drawing (images.PLACEHOLDER_SVG), saying ``text``."""
    from ..images import PLACEHOLDER_SVG

    name = f"placeholder-{hashlib.sha256(text.encode()).hexdigest()[:8]}.svg"
    (workdir / name).write_text(PLACEHOLDER_SVG.replace("Image not available",
                                                        html.escape(text)), encoding="utf-8")
    return name


def _raster(workdir: Path, local: str) -> str:
    """An SVG as PNG: the author's own ``.png`` twin, else drawn by Typst."""
    twin = Path(local).with_suffix(".png")
    if (workdir / twin).is_file():
        return twin.as_posix()
    import typst

    out = f"raster-{hashlib.sha256(local.encode()).hexdigest()[:16]}.png"
    quoted = local.replace("\\", "\\\\").replace('"', '\\"')
    # At most a page's size: an SVG may say it is 3 m wide (ccc's does), and at
    # RASTER_PPI that is a 26000-pixel square, 2.7 GB before it is compressed.
    source = ("#set page(width: auto, height: auto, margin: 0pt)\n"
              "#context {\n"
              f'  let size = measure(image("/{quoted}"))\n'
              f"  let scale = calc.min(1, {MAX_RASTER_CM[0]}cm / calc.max(size.width, 1pt),\n"
              f"                       {MAX_RASTER_CM[1]}cm / calc.max(size.height, 1pt))\n"
              f'  image("/{quoted}", width: size.width * scale)\n'
              "}\n").encode()
    try:
        png = typst.compile(source, root=str(workdir), format="png", ppi=RASTER_PPI,
                            ignore_system_fonts=True)
    except typst.TypstError as error:
        logger.warning("SVG image could not be converted for Word (%s): %s",
                       error.message, local)
        return local
    (workdir / out).write_bytes(png)  # type: ignore[arg-type]
    return out
