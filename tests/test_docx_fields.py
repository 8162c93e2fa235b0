"""Word fields that read files or run code are taken out of raw OpenXML (formats/fields.py),
read as Word reads them: across runs and raw elements, nested, under any prefix."""

from __future__ import annotations

import pytest

from manuscript.formats.fields import drop_refused_fields

BEGIN, SEPARATE, END = (f'<w:r><w:fldChar w:fldCharType="{kind}"/></w:r>'
                        for kind in ("begin", "separate", "end"))


def instr(text: str, prefix: str = "w") -> str:
    return f"<{prefix}:r><{prefix}:instrText>{text}</{prefix}:instrText></{prefix}:r>"


CASES = {
    "whole field": ([BEGIN + instr(' INCLUDETEXT "/etc/passwd" ') + SEPARATE + END],
                    ["INCLUDETEXT"], [0]),
    "lower case, another prefix": ([instr('includepicture "http://x/a.png"', "x")],
                                   ["INCLUDEPICTURE"], [0]),
    "simple field": (['<w:fldSimple w:instr=" DDEAUTO cmd "/>'], ["DDEAUTO"], [0]),
    "split over elements": ([BEGIN, instr("DD"), instr("EAUTO calc"), SEPARATE, END],
                            ["DDEAUTO"], [0, 1, 2, 3, 4]),
    "nested in IF": ([BEGIN + instr('IF 1 = 1 "') + BEGIN + instr("LINK Excel x") + END
                      + instr('"') + END], ["LINK"], [0]),
    "character reference": ([instr("&#73;NCLUDETEXT a")], ["INCLUDETEXT"], [0]),
    "macro button": ([instr("MACROBUTTON Run x")], ["MACROBUTTON"], [0]),
    "harmless fields stay": ([BEGIN + instr(" PAGE ") + END, '<w:fldSimple w:instr="SEQ F"/>',
                              BEGIN, instr("MERGEFIELD Print"), END], [], []),
    "the word in text is no field": (["<w:r><w:t>INCLUDETEXT DDE</w:t></w:r>"], [], []),
}


@pytest.mark.parametrize("raws, fields, gone", CASES.values(), ids=CASES.keys())
def test_refused_fields_are_removed(raws: list[str], fields: list[str], gone: list[int]) -> None:
    blocks = [{"t": "RawBlock", "c": ["openxml", xml]} for xml in raws]
    ast = {"blocks": [*blocks, {"t": "Para", "c": [{"t": "RawInline",
                                                     "c": ["html", instr("DDE x")]}]}],
           "meta": {}}
    assert drop_refused_fields(ast) == fields
    kept = [n for n, block in enumerate(ast["blocks"][:len(raws)]) if block["t"] == "RawBlock"]
    assert kept == [n for n in range(len(raws)) if n not in gone]
    assert ast["blocks"][-1]["c"][0]["t"] == "RawInline"  # HTML never reaches Word
