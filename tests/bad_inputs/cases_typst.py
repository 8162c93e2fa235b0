"""Bad input for the Typst PDF and the format workers: raw output they cannot take.

Raw Typst, JATS or OpenXML that Typst or an XML parser refuses is left out of that
one output with a warning naming the Markdown file:line (the rest is still written);
with ``strict = true`` the warning fails the build and nothing already built is lost.
"""

from __future__ import annotations

from table import Case

_SECTION = "content/02.introduction.md"

CASES = [
    Case(
        # Was a failed build naming a temporary .typ file; now the block is left out.
        "typst-raw-block-error-left-out",
        {"manuscript.toml": 'pdf-engine = "typst"\n',
         _SECTION: "## Introduction\n\nText.\n\n```{=typst}\n#no-such-function()\n```\n"},
        f"warning: {_SECTION}:6: raw Typst left out of the PDF: unknown variable: "
        "no-such-function",
        exit=0,
        outputs_unchanged=False,
    ),
    Case(
        "typst-raw-block-error-strict",
        {"manuscript.toml": 'pdf-engine = "typst"\nstrict = true\n',
         _SECTION: "## Introduction\n\nText.\n\n```{=typst}\n#no-such-function()\n```\n"},
        f"warning: {_SECTION}:6: raw Typst left out of the PDF: unknown variable: "
        "no-such-function",
    ),
    Case(
        "typst-raw-inline-unclosed-strict",
        {"manuscript.toml": 'pdf-engine = "typst"\nstrict = true\n',
         _SECTION: "## Introduction\n\nText `#text(red)[`{=typst} more.\n"},
        f"warning: {_SECTION}:3: raw Typst left out of the PDF",
    ),
    Case(
        "jats-raw-block-not-well-formed",
        {"manuscript.toml": 'formats = ["jats"]\nstrict = true\n',
         _SECTION: "## Introduction\n\nText.\n\n```{=jats}\n<p>R&D <b>open\n```\n"},
        f"warning: {_SECTION}:6: raw JATS left out (not well-formed XML",
    ),
    Case(
        "openxml-raw-inline-not-well-formed",
        {"manuscript.toml": 'formats = ["docx"]\nstrict = true\n',
         _SECTION: "## Introduction\n\nText `<w:r><w:t>x</w:r>`{=openxml} more.\n"},
        f"warning: {_SECTION}:3: raw OpenXML left out (not well-formed XML",
    ),
    Case(
        # Raw Typst inside a list item: left out alone, not the whole list.
        "typst-raw-block-in-a-list-strict",
        {"manuscript.toml": 'pdf-engine = "typst"\nstrict = true\n',
         _SECTION: "## Introduction\n\n- item one\n\n  ```{=typst}\n  #nope()\n  ```\n\n"
                   "- item two\n"},
        f"warning: {_SECTION}:6: raw Typst left out of the PDF: unknown variable: nope",
    ),
    Case(
        # Typst's warnings name the Markdown's place too, never the temporary .typ.
        "typst-warning-has-the-markdown-place",
        {"manuscript.toml": 'pdf-engine = "typst"\nstrict = true\n',
         _SECTION: "## Introduction\n\nText.\n\n```{=typst}\n"
                   '#text(font: "No Such Font")[x]\n```\n'},
        f"warning: {_SECTION}:6: Typst: unknown font family: no such font",
    ),
]
