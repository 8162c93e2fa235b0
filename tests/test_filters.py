"""Tests for the pandoc Lua filters: golden cases plus direct structural checks."""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "filters"))

import golden

from helpers import copy_manuscript, run_manuscript

CASES = golden.discover_cases()
CROSSREF = golden.FILTERS_DIR / "crossref.lua"


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_golden(case: golden.Case) -> None:
    diff = golden.check_case(case)
    assert not diff, f"{case.name} differs from its golden files:\n{diff}"


def test_every_filter_with_cases_exists() -> None:
    assert any(case.filter_name == "crossref" for case in CASES)
    for case in CASES:
        assert case.filter_path.is_file()


# --- direct checks ---------------------------------------------------------


class Element:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Element | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Element] = []
        self.text = ""

    @property
    def classes(self) -> list[str]:
        return (self.attrs.get("class") or "").split()

    def all_text(self) -> str:
        return self.text + "".join(child.all_text() for child in self.children)

    def iter(self):
        yield self
        for child in self.children:
            yield from child.iter()

    def select(self, tag: str | None = None, cls: str | None = None, **attrs: str):
        """Descendants matching like the CSS selector ``tag.cls[attr=value]``."""
        return [
            el
            for el in self.iter()
            if el is not self
            and (tag is None or el.tag == tag)
            and (cls is None or cls in el.classes)
            and all(el.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]


VOID_TAGS = frozenset({"img", "br", "hr", "col", "meta", "link", "input"})


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", {}, None)
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        el = Element(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(el)
        if tag not in VOID_TAGS:
            self.current = el

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        # Text is kept in order by attaching it as a text-only child.
        child = Element("#text", {}, self.current)
        child.text = data
        self.current.children.append(child)


def render(markdown: str, from_format: str = "markdown") -> tuple[Element, str]:
    result = subprocess.run(
        [
            golden.pandoc_path(),
            f"--from={from_format}",
            "--to=html5",
            "--mathml",
            f"--lua-filter={CROSSREF}",
        ],
        input=markdown,
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=True,
    )
    parser = TreeBuilder()
    parser.feed(result.stdout)
    return parser.root, golden.normalize_warnings(result.stderr)


def text(el: Element) -> str:
    return " ".join(el.all_text().replace("\u00a0", " ").split())


DOC = """\
![First.](a.png){#fig:a width=50%}

| x |
|---|
| 1 |

Table: A table. {#tbl:t}

$$E = mc^2$$ {#eq:e}

See @fig:a, +@fig:b, @tbl:t, @eq:e and [@doi:10.1/abc].

![Second.](b.png){#fig:b}
"""


def test_figure_wrapped_and_numbered() -> None:
    root, warnings = render(DOC)
    assert warnings == ""
    (div,) = root.select("div", cls="fignos", id="fig:a")
    (figure,) = div.select("figure")
    assert "id" not in figure.attrs, "the id moves from the figure to the wrapper"
    (caption,) = figure.select("figcaption")
    assert text(caption).startswith("Figure 1: First.")
    (img,) = figure.select("img")
    assert img.attrs["style"] == "width:50.0%"
    assert text(root.select("div", id="fig:b")[0]).startswith("Figure 2:")


def test_table_wrapped_and_numbered() -> None:
    root, _ = render(DOC)
    (div,) = root.select("div", cls="tablenos", id="tbl:t")
    (caption,) = div.select("caption")
    assert text(caption) == "Table 1: A table."


def test_equation_span_keeps_math() -> None:
    root, _ = render(DOC)
    (span,) = root.select("span", cls="eqnos", id="eq:e")
    assert span.select("math"), "the Math element is kept (MathML)"
    (number,) = span.select("span", cls="eqnos-number")
    assert text(number) == "(1)"


def test_references_link_to_numbers_and_citations_untouched() -> None:
    root, _ = render(DOC)
    links = {a.attrs["href"]: text(a) for a in root.select("a")}
    assert links == {"#fig:a": "1", "#fig:b": "2", "#tbl:t": "1", "#eq:e": "1"}
    para = root.select("p")[-1]
    assert "fig. 2" in text(para), "+@fig:b is a clever reference to a later figure"
    (cite,) = root.select("span", cls="citation")
    assert cite.attrs["data-cites"] == "doi:10.1/abc"


def test_lone_image_without_implicit_figures() -> None:
    root, _ = render("![Lone.](a.png){#fig:lone}\n\nSee @fig:lone.\n", "markdown-implicit_figures")
    (div,) = root.select("div", cls="fignos", id="fig:lone")
    assert text(div.select("figcaption")[0]) == "Figure 1: Lone."
    assert root.select("a", href="#fig:lone")[0].all_text() == "1"


def test_unknown_reference_warns_and_marks() -> None:
    root, warnings = render("See @fig:missing and @eq:gone.\n")
    assert warnings.splitlines() == [
        "crossref: unknown reference @fig:missing",
        "crossref: unknown reference @eq:gone",
    ]
    unknown = root.select("a", cls="xref-unknown")
    assert [(a.attrs["href"], text(a)) for a in unknown] == [
        ("#fig:missing", "??"),
        ("#eq:gone", "??"),
    ]


def test_duplicate_label_warns() -> None:
    _, warnings = render("![A.](a.png){#fig:x}\n\n![B.](b.png){#fig:x}\n")
    assert warnings == "crossref: duplicate label fig:x\n"


def test_supplementary_numbering() -> None:
    root, _ = render(
        "![Main.](a.png){#fig:m}\n\n# Supplement {.supplementary}\n\n"
        "![Extra.](s.png){#fig:s}\n\n# Back\n\n![Main two.](b.png){#fig:m2}\n"
    )
    captions = [text(c) for c in root.select("figcaption")]
    assert captions == ["Figure 1: Main.", "Figure S1: Extra.", "Figure 2: Main two."]


TWICE = Path(__file__).resolve().parent / "filters" / "crossref-twice.lua"


def test_state_is_per_document(tmp_path: Path) -> None:
    """One loaded filter, two documents: the second is numbered, named and
    resolved on its own, as if pandoc had run the filter on it alone."""
    first = tmp_path / "first.md"
    first.write_text(
        "---\nfignos-caption-name: Fig.\n---\n\n"
        "![One.](1.png){#fig:one}\n\n![Two.](2.png){#fig:two}\n\nSee @fig:one and @fig:two.\n",
        encoding="utf-8",
    )
    second = tmp_path / "second.md"
    second.write_text(
        "![Other.](3.png){#fig:other}\n\nSee @fig:other and @fig:one.\n", encoding="utf-8"
    )
    result = subprocess.run(
        [golden.pandoc_path(), "lua", str(TWICE), str(CROSSREF), str(first), str(second)],
        capture_output=True, text=True, encoding="utf-8", check=True,
    )
    pages = result.stdout.split("<!-- next document -->")
    assert len(pages) == 2
    trees = []
    for page in pages:
        parser = TreeBuilder()
        parser.feed(page)
        trees.append(parser.root)
    first_root, second_root = trees
    assert [text(c) for c in first_root.select("figcaption")] == ["Fig. 1: One.", "Fig. 2: Two."]
    # Numbering restarts, and the first document's caption name stays there.
    assert [text(c) for c in second_root.select("figcaption")] == ["Figure 1: Other."]
    links = [(a.attrs["href"], text(a)) for a in second_root.select("a")]
    # The first document's labels are unknown in the second.
    assert links == [("#fig:other", "1"), ("#fig:one", "??")]
    assert golden.normalize_warnings(result.stderr) == "crossref: unknown reference @fig:one\n"


SHOWCASE = Path(__file__).resolve().parent / "fixtures" / "showcase"


def test_build_reports_each_unknown_reference_once(tmp_path: Path) -> None:
    """The filter warns once per unknown label and the build lists its places:
    each place once (a label referenced n times used to give n x n lines)."""
    root = copy_manuscript(SHOWCASE, tmp_path)
    (root / "content" / "40.unknown.md").write_text(
        "## Unknown\n\nFirst @fig:gone.\n\n"
        "![A caption naming @fig:gone.](images/x.png){#fig:here}\n\n"
        "Again [see @fig:gone] and @fig:here.\n",
        encoding="utf-8",
    )
    completed = run_manuscript(root, "build", "--offline", "--no-pdf")
    reported = [line for line in completed.stderr.splitlines() if "@fig:gone" in line]
    assert reported == [
        f"warning: content/40.unknown.md:{line}: unknown cross-reference @fig:gone"
        for line in (3, 5, 7)
    ]


SECTIONS = """\
### Before the first

## Introduction

## Methods {#sec:methods}

### Detail {#sec:detail}

## Skipped {.unnumbered}

## Results {#sec:results}

See @sec:methods, @sec:detail, @sec:results, @sec:introduction and @sec:before-the-first.
"""


@pytest.mark.parametrize("offset", [None, "2"])
def test_section_references_print_the_numbers_pandoc_gives_the_headings(
        offset: str | None) -> None:
    """With number-sections (rootstock's defaults may set it, and the build honours it),
    pandoc numbers the headings: a reference must print the same number, counted from
    the highest level used (so "0.1" for a deeper heading before it), offset included."""
    args = ["--number-sections", *([f"--number-offset={offset}"] if offset else [])]
    result = subprocess.run(
        [golden.pandoc_path(), "--from=markdown", "--to=html5", *args,
         f"--lua-filter={CROSSREF}"],
        input=SECTIONS, capture_output=True, text=True, encoding="utf-8", check=True)
    parser = TreeBuilder()
    parser.feed(result.stdout)
    headings = {el.attrs.get("id"): el.attrs.get("data-number")
                for el in parser.root.iter() if el.tag in ("h2", "h3")}
    links = [(el.attrs["href"][1:], text(el)) for el in parser.root.iter() if el.tag == "a"]
    assert len(links) == 5
    assert all(headings[target] == number for target, number in links), (headings, links)
    assert headings["before-the-first"] == ("2.0.1" if offset else "0.1")
