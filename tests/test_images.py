"""Images: remote ones fetched once into ci/cache and served locally; local ones checked
in the HTML stage with the Markdown file:line that uses them.

A real HTTP server on 127.0.0.1 stands in for the image host; the build runs as a
separate process, online only where a test says so (the only URL is that server).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from pathlib import Path

import pytest

from helpers import ROOT, clean_env, copy_manuscript, mask_dates, parse_html, run_manuscript, select
from localserver import serve_folder


@pytest.fixture
def manuscript(tmp_path: Path) -> Path:
    return copy_manuscript(ROOT, tmp_path / "ms")


def _png(width: int, height: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


def _append(root: Path, name: str, text: str) -> int:
    """Append ``text`` to a section; the line number where it starts."""
    path = root / "content" / name
    before = path.read_text(encoding="utf-8")
    path.write_text(before + text, encoding="utf-8")
    return before.count("\n") + 1


def _online() -> dict[str, str]:
    env = clean_env()
    env.pop("MANUSCRIPT_OFFLINE")  # the only URL in these manuscripts is our 127.0.0.1 server
    return env


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning:")]


def _img_sources(root: Path) -> list[str]:
    page = parse_html((root / "output" / "manuscript.html").read_text(encoding="utf-8"))
    return [e.etree_element.get("src") for e in select(page, "#fig\\:remote img")]


def _pdf_image_sizes(path: Path) -> set[tuple[int, int]]:
    from pypdf import PdfReader

    return {image.image.size for page in PdfReader(path).pages for image in page.images}


def test_remote_image_is_cached_published_and_used_offline(manuscript: Path,
                                                           tmp_path: Path) -> None:
    png = _png(37, 23)  # a size nothing else in the manuscript has
    served = tmp_path / "host"
    served.mkdir()
    (served / "plot.png").write_bytes(png)
    with serve_folder(served) as base_url:
        url = f"{base_url}/plot.png"
        _append(manuscript, "02.introduction.md",
                f"\n![A remote plot.]({url}){{#fig:remote}}\n")
        run_manuscript(manuscript, "build", env=_online())

    # The page refers to a local copy, named by its content, published with the page.
    name = f"{hashlib.sha256(png).hexdigest()}.png"
    assert _img_sources(manuscript) == [f"remote-images/{name}"]
    html = (manuscript / "output" / "manuscript.html").read_text(encoding="utf-8")
    assert "127.0.0.1" not in html
    assert (manuscript / "output" / "remote-images" / name).read_bytes() == png
    assert (manuscript / "webpage" / "v" / "latest" / "remote-images" / name).read_bytes() == png
    assert (37, 23) in _pdf_image_sizes(manuscript / "output" / "manuscript.pdf")

    # The server is gone: an offline build from scratch makes the same page and PDF.
    os.remove(manuscript / "output" / ".build-state.json")
    (manuscript / "output" / "manuscript.pdf").unlink()
    completed = run_manuscript(manuscript, "build")
    assert "remote image" not in completed.stderr
    rebuilt = (manuscript / "output" / "manuscript.html").read_text(encoding="utf-8")
    assert mask_dates(rebuilt) == mask_dates(html)
    assert (37, 23) in _pdf_image_sizes(manuscript / "output" / "manuscript.pdf")


def test_remote_image_offline_without_cache_warns_with_place(manuscript: Path) -> None:
    url = "http://127.0.0.1:9/never-fetched.png"
    line = _append(manuscript, "02.introduction.md",
                   f"\n![A remote plot.]({url}){{#fig:remote}}\n")
    completed = run_manuscript(manuscript, "build")
    assert re.search(rf"warning: content/02.introduction.md:{line + 1}: remote image is not in "
                     rf"ci/cache and the build is offline.*{re.escape(url)}", completed.stderr)
    assert _img_sources(manuscript) == [url]  # the page still links to it
    assert not (manuscript / "output" / "remote-images").exists()
    assert (37, 23) not in _pdf_image_sizes(manuscript / "output" / "manuscript.pdf")


def test_remote_file_that_is_not_an_image_is_not_used(manuscript: Path, tmp_path: Path) -> None:
    served = tmp_path / "host"
    served.mkdir()
    (served / "page.png").write_text("<html><body>Sign in</body></html>", encoding="utf-8")
    with serve_folder(served) as base_url:
        url = f"{base_url}/page.png"
        line = _append(manuscript, "02.introduction.md", f"\n![Plot.]({url}){{#fig:remote}}\n")
        completed = run_manuscript(manuscript, "build", "--no-pdf", env=_online())
    assert (f"content/02.introduction.md:{line + 1}: remote image is not a PNG, JPEG, GIF, "
            "WebP or SVG image") in completed.stderr
    assert _img_sources(manuscript) == [url]
    assert not list((manuscript / "ci" / "cache" / "images").glob("*.png"))


def test_missing_local_image_reported_where_written(manuscript: Path) -> None:
    line = _append(manuscript, "03.domain-specific-models.md",
                   "\n![A plot.](images/no-such-plot.png){#fig:plot}\n\n"
                   '<img src="images/no-such-icon.svg" alt="icon">\n\n'
                   "As @fig:plot shows.\n")  # referenced: no xref-unused warning
    completed = run_manuscript(manuscript, "build")
    assert (f"warning: content/03.domain-specific-models.md:{line + 1}: image not found "
            "(paths are relative to content/): images/no-such-plot.png") in completed.stderr
    assert (f"warning: content/03.domain-specific-models.md:{line + 3}: image not found "
            "(paths are relative to content/): images/no-such-icon.svg") in completed.stderr
    assert len(_warnings(completed.stderr)) == 2  # not again by the PDF stage
    before = (manuscript / "output" / "manuscript.html").read_bytes()

    _append(manuscript, "03.domain-specific-models.md", "\nMore text.\n")
    strict = run_manuscript(manuscript, "build", "--no-pdf", "--strict", check=False)
    assert strict.returncode == 1
    assert re.search(rf"^error: (.*/)?content/03.domain-specific-models.md:{line + 1}: image not "
                     "found", strict.stderr, re.M)
    assert (manuscript / "output" / "manuscript.html").read_bytes() == before


def test_image_outside_content_images_is_reported(manuscript: Path) -> None:
    (manuscript / "content" / "figures").mkdir()
    (manuscript / "content" / "figures" / "plot.png").write_bytes(_png(10, 10))
    line = _append(manuscript, "02.introduction.md", "\n![A plot.](figures/plot.png)\n")
    completed = run_manuscript(manuscript, "build", "--no-pdf")
    assert (f"content/02.introduction.md:{line + 1}: image is outside content/images/"
            in completed.stderr)


def test_remote_image_over_the_size_limit_is_not_used(manuscript: Path, tmp_path: Path) -> None:
    served = tmp_path / "host"
    served.mkdir()
    (served / "huge.png").write_bytes(_png(8, 8) + bytes(21 * 2**20))  # 21 MB
    with serve_folder(served) as base_url:
        url = f"{base_url}/huge.png"
        line = _append(manuscript, "02.introduction.md", f"\n![Huge.]({url}){{#fig:remote}}\n")
        completed = run_manuscript(manuscript, "build", "--no-pdf", env=_online())
    assert (f"content/02.introduction.md:{line + 1}: remote image could not be fetched (larger "
            "than the 20 MB limit") in completed.stderr
    assert _img_sources(manuscript) == [url]
    assert not list((manuscript / "ci" / "cache" / "images").glob("*.png"))
