"""Tables on a phone: a column of code is as wide as its code, not one letter wide.

The theme let inline code break anywhere (``overflow-wrap: anywhere``), which the
automatic table layout read as "this column may be one letter wide": rootstock's
"Ref." column set ``piday.org`` a letter a line, in the page and the PDF alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from helpers import copy_manuscript, run_manuscript
from manuscript.screenshot import serve_directory
from reading import SHOWCASE

if TYPE_CHECKING:
    from playwright.sync_api import Browser

PHONE = {"width": 375, "height": 667}
_SECTION = """## Digits

| | Digits 1-33 | Digits 34-66 | Digits 67-99 | Ref. |
|:--|:------------|:------------|:------------|:-----|
| pi | 3.14159265358979323846264338327950 | 288419716939937510582097494459230 | 781640628620899862803482534211706 | [`piday.org`](https://www.piday.org/million/) |
| e | 2.71828182845904523536028747135266 | 249775724709369995957496696762772 | 407663035354759457138217852516642 | [`nasa.gov`](https://apod.nasa.gov/htmltest/gifcity/e.2mil) |

Table: Digits of two constants. {#tbl:digits}
"""  # noqa: E501 (a pipe table's rows are its lines)


@pytest.fixture(scope="module")
def digits_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = copy_manuscript(SHOWCASE, tmp_path_factory.mktemp("digits"))
    (root / "content" / "40.digits.md").write_text(_SECTION, encoding="utf-8")
    run_manuscript(root, "build", "--offline", "--no-pdf")
    with serve_directory(root / "output") as url:
        yield url


def test_code_in_a_table_cell_stays_on_one_line_on_a_phone(
    browser: Browser, digits_url: str,
) -> None:
    page = browser.new_page(viewport=PHONE)
    try:
        page.goto(f"{digits_url}/manuscript.html")
        lines = page.evaluate("""() => [...document.querySelectorAll('#tbl\\\\:digits td code')]
            .map(code => [code.textContent, code.getClientRects().length])""")
        scrolls = page.evaluate("""() => {
            const table = document.querySelector('#tbl\\\\:digits table');
            const box = table.closest('.table-scroll') || table;
            return [box.scrollWidth > box.clientWidth, document.documentElement.scrollWidth];
        }""")
    finally:
        page.close()
    assert [text for text, _ in lines] == ["piday.org", "nasa.gov"], lines
    assert all(count == 1 for _, count in lines), f"code broken over lines: {lines}"
    assert scrolls == [True, PHONE["width"]], "the table should scroll in its own box"
