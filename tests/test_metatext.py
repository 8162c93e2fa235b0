"""Metadata is text: raw markup in it becomes its text for every output, attribute values
are escaped, and ``check`` says where markup was written."""

from __future__ import annotations

import json
from pathlib import Path

from manuscript import metatext, pandoc, render
from manuscript.checks import metadata as metadata_check

METADATA = """\
title: 'A `#text("TYP1")`{=typst} and <b>bold</b>'
keywords:
  - plain
  - 'k <script>window.P=1</script>'
authors:
  - name: Jane Roe
    affiliations:
      - '`<w:r><w:t>OXML</w:t></w:r>`{=openxml}'
pandoc:
  references:
    - id: x
      title: A <i>CSL</i> title may hold markup
"""


def test_check_warns_at_the_line_of_each_markup(tmp_path: Path) -> None:
    path = tmp_path / "metadata.yaml"
    path.write_text(METADATA, encoding="utf-8")
    found = [(p.line, p.severity) for p in metadata_check.check(path)
             if p.code == "metadata-markup"]
    assert found == [(1, "warning"), (4, "warning"), (8, "warning")]


def test_raw_markup_in_metadata_becomes_text_for_typst_and_jats(tmp_path: Path) -> None:
    ast = pandoc.markdown_to_ast(
        "---\ntitle: 'T `#text(\"TYP1\")`{=typst} `<bold>J</bold>`{=jats}'\n---\n\nx\n")
    assert metatext.as_text(ast["meta"]) == 2
    payload = json.dumps(ast).encode()
    template = "$title$\n$body$\n"
    typst = pandoc.run(["--from=json", "--to=typst", "--standalone",
                        f"--template={_write(tmp_path, template)}"], payload).output.decode()
    assert typst.startswith('T \\#text(\\"TYP1\\")'), typst  # escaped: text, not code
    jats = pandoc.run(["--from=json", "--to=jats", "--standalone"], payload).output.decode()
    assert "<bold>J</bold>" not in jats and "&lt;bold&gt;J&lt;/bold&gt;" in jats


def _write(folder: Path, text: str) -> Path:
    path = folder / "template.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_attribute_values_are_escaped_text(tmp_path: Path) -> None:
    """A quote in a keyword (pandoc writes Str text with " as it is) or a Span's
    attributes (markup) would end the content attribute and add attributes of its own."""
    markdown = ('---\nkeywords:\n  - \'a\\" http-equiv=\\"refresh\'\n'
                '  - \'[b]{data-x="1"}\'\nauthor: \'[N]{onclick="x"}\'\n'
                'pagetitle: \'P\\" x=\\"\'\n---\n\nx\n')
    template = _write(tmp_path, '<meta name="keywords" content="$for(keywords)$$keywords$$sep$, '
                      '$endfor$"><meta name="author" content="$author-meta$">'
                      '<title>$pagetitle$</title>\n')
    filters = render.data_dir() / "filters"
    page = pandoc.run(["--from=markdown", "--to=html5", "--standalone",
                       f"--template={template}", f"--lua-filter={filters / 'metatext.lua'}"],
                      markdown.encode()).output.decode()
    assert '<meta name="keywords" content="a&quot; http-equiv=&quot;refresh, b">' in page
    assert '<meta name="author" content="N">' in page
    assert "<title>P&quot; x=&quot;</title>" in page
