"""Images the sections name: missing files, files over 5 MB, and images with neither
alt text nor a caption (screen readers then say only "image")."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..problems import Problem
from .markdown import Image, Scan

MAX_BYTES = 5 * 2**20  # a page that loads a larger image is slow on a phone; the PDF too


def check(scan: Scan, content_dir: Path) -> list[Problem]:
    problems: list[Problem] = []
    for image in scan.images:
        problems += _image_problems(image, content_dir)
    return problems


def _image_problems(image: Image, content_dir: Path) -> list[Problem]:
    place = image.place

    def problem(severity: str, code: str, message: str) -> Problem:
        return Problem(place.path, place.line, place.col, severity, code,  # type: ignore[arg-type]
                       message)

    problems = []
    if not (image.alt or "").strip() and "fig-alt=" not in image.attributes:
        problems.append(problem("warning", "image-no-alt",
                                f"image {image.target} has no alt text or caption"))
    url = urlsplit(image.target)
    if url.scheme or not url.path or image.target.startswith("#"):
        return problems  # remote (the build fetches it), data: or an anchor
    path = content_dir / unquote(url.path)
    if not path.is_file():
        problems.append(problem("error", "image-missing",
                                f"image not found: {image.target} (paths are relative to "
                                "content/)"))
    elif (size := path.stat().st_size) > MAX_BYTES:
        problems.append(problem("warning", "image-large",
                                f"image {image.target} is {size / 2**20:.1f} MB (more than "
                                f"{MAX_BYTES // 2**20} MB): readers download all of it"))
    return problems
