"""The spelling check: what it reports, where, what it knows, and rootstock's SPELLCHECK.

tests/fixtures/spelling/ holds every construct the check must skip, each with a made-up
word ending in "word", the names of its reference, metadata and word lists used in
prose, and planted misspellings. The corpus tests (skipped without ../shared) plant
misspellings in real manuscripts and compare with rootstock's own lists.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from helpers import CORPUS, ROOT, clean_env, copy_corpus, copy_manuscript, run_manuscript
from manuscript import spelling
from manuscript.config import Config
from manuscript.errors import ConfigError
from manuscript.problems import Problem
from manuscript.sources import Section, read_sections

FIXTURE = Path(__file__).parent / "fixtures" / "spelling"


def _fixture(tmp_path: Path) -> Path:
    root = copy_manuscript(FIXTURE, tmp_path / "m", "build")
    return root


def _references(root: Path) -> list[dict]:
    return json.loads((root / "content" / "manual-references.json").read_text())


def _check(root: Path, refs: list[dict] | None = None) -> list:
    return spelling.check_spelling(Config(root=root), read_sections(root / "content"),
                                   _references(root) if refs is None else refs)


def _word(problem: Problem) -> str:
    match = re.match(r"unknown word (['\"])(.+?)\1", problem.message)
    assert match, problem.message
    return match.group(2)


def test_planted_misspellings_once_each_at_their_first_place(tmp_path: Path) -> None:
    root = _fixture(tmp_path)
    problems = _check(root)
    by_word = {_word(p): p for p in problems}
    assert sorted(by_word) == ["experiement", "recieve", "teh"]
    teh = by_word["teh"]
    # 01.text.md's last line is "A planted typo: teh results."; 02.more.md has two more.
    last = (root / "content" / "01.text.md").read_text().splitlines()
    assert last[-1] == "A planted typo: teh results."
    assert (teh.path.name, teh.line, teh.col) == ("01.text.md", len(last), 17)
    assert "also at content/02.more.md:3:12, content/02.more.md:3:44" in teh.message
    assert (by_word["recieve"].path.name, by_word["recieve"].line, by_word["recieve"].col) \
        == ("02.more.md", 3, 4)
    assert "did you mean 'receive'" in by_word["recieve"].message
    assert "did you mean 'experiment'" in by_word["experiement"].message
    assert all(p.severity == "warning" and p.code == "spelling" for p in problems)


def test_no_construct_that_is_not_prose_is_checked(tmp_path: Path) -> None:
    root = _fixture(tmp_path)
    text = (root / "content" / "01.text.md").read_text()
    planted = set(re.findall(r"[a-z]+zqx\b", text))
    assert len(planted) >= 20  # the fixture plants one in every construct
    assert not [p for p in _check(root) if _word(p).endswith("zqx")]
    # The same words in prose are reported: the skipping above is what hides them.
    prose = " ".join(sorted(planted)) + "\n"
    section = Section(root / "content" / "03.prose.md", prose)
    reported = spelling.unknown_words([section], spelling.Speller())
    assert set(reported) == planted


@pytest.mark.parametrize(("markdown", "hidden"), [
    ("`codeword` x", "codeword"),
    ("$a + mathword$ x", "mathword"),
    ("$$\n\\text{displayword}\n$$\n", "displayword"),
    ("see [@doi:10.1/citeword] x", "citeword"),
    ("see [@{https://example.org/braceword}] x", "braceword"),
    # "url" of the key was reported on real manuscripts: a URL stopped at the brace
    ("see [@{url:https://example.org/x}] and [@url:https://example.org/y] x", "url"),
    ("as @tag:tagkeyword and [@doi:10.1/x; @pmid:123] say", "tagkeyword"),
    ('<img alt="altword" src="a.png"> and <a title="titleword">x</a>', "altword"),
    ('<a title="titleword">x</a>', "titleword"),
    ("*@fig:figword and !@eq:eqword", "figword"),
    ("![Cap](a.png){#fig:attrword}", "attrword"),
    ("[link](https://example.org/targetword)", "targetword"),
    ("https://example.org/urlword", "urlword"),
    ("<!--\ncommentword\n-->", "commentword"),
    ('<div class="tagword">x</div>', "tagword"),
    ("{{ jinjaword }} {% if stmtword %}x{% endif %}", "jinjaword"),
    ("~~~\nfenceword\n~~~\n", "fenceword"),
    ("---\nkey: frontword\n---\n\ntext", "frontword"),
    ("\\begin{align}\nlatexword\n\\end{align}", "latexword"),
])
def test_each_construct_is_blanked_in_place(markdown: str, hidden: str) -> None:
    blanked = spelling.prose_only(markdown)
    assert len(blanked) == len(markdown) and blanked.count("\n") == markdown.count("\n")
    assert hidden not in blanked


# Code as pandoc reads it, and what only looks like code: (Markdown, word, is it code?).
CODE_CASES = [
    ("Para.\n\n    indentword here\n    more\n\nText.\n", "indentword", True),
    ("Para.\n\n\ttabword here\n", "tabword", True),
    ("# Heading\n    headingcodeword\n", "headingcodeword", True),
    ("Para goes on\n    lazyword, not code\n", "lazyword", False),
    ("- item\n\n    itemword continues the item\n", "itemword", False),
    ("1. item\n\n    ordinalword continues\n", "ordinalword", False),
    ("- item\n\n      itemcodeword in the item\n", "itemcodeword", True),
    ("- item\n\nPara.\n\n    afterlistword\n", "afterlistword", True),
    ("> Quote\n>\n>     quotecodeword\n", "quotecodeword", True),
    ("~~~ {.python}\ntildeword\n~~~\n", "tildeword", True),
    ("```{.r #lst:x}\nattrfenceword\n```\n", "attrfenceword", True),
    ("- item\n\n    ```\n    listfenceword\n    ```\n", "listfenceword", True),
    ("``a ` dblword``", "dblword", True),
    ("`<b>rawword</b>`{=html} x", "rawword", True),
    ("```{=html}\n<p>rawblockword</p>\n```\n", "rawblockword", True),
    ("A ` alone.\n\nThen loneword and `code`.", "loneword", False),
]


@pytest.mark.parametrize(("markdown", "word", "code"), CODE_CASES)
def test_code_is_skipped_exactly_where_pandoc_reads_code(markdown: str, word: str,
                                                         code: bool) -> None:
    from manuscript import pandoc

    def texts(node: object, inside: bool) -> list[tuple[str, bool]]:
        """Every string of pandoc's AST, and whether it is inside code or raw markup."""
        if isinstance(node, list):
            return [found for child in node for found in texts(child, inside)]
        if not isinstance(node, dict):
            return [(node, inside)] if isinstance(node, str) else []
        is_code = node.get("t") in ("Code", "CodeBlock", "RawInline", "RawBlock")
        return texts(node.get("c"), inside or is_code)

    in_ast = [inside for text, inside in texts(pandoc.markdown_to_ast(markdown)["blocks"],
                                               False) if word in text]
    assert in_ast == [code]  # pandoc's reading, as the case says
    blanked = spelling.prose_only(markdown)
    assert len(blanked) == len(markdown) and blanked.count("\n") == markdown.count("\n")
    assert (word not in blanked) == code


CHECK_CONSTRUCTS = """## Methods {#sec:anchorzqx}

As shown [@doi:10.1000/citezqx; @pmid:123; @arxiv:2101.0001v2] and @fig:xrefzqx, +@tbl:tblzqx.
See <https://example.org/urlzqx/pathzqx>, <mailto:mailzqx@example.org>, mailzqx2@example.org.
The file content/imageszqx/plotzqx.png, ./scriptszqx/runzqx.py, ~/datazqx/x, C:\\Userszqx\\x.
Math $\\alphazqx + \\mathrm{x} \\frac{a}{b}$ and $$\\textzqx{x}$$ and $\\operatorname{opzqx}$.
[Small caps recieve]{.smallcaps} and [span text]{#spanzqx .classzqx key=valzqx}.
An anchor [link](#sec:linkzqx), [@tag:tagzqx], [@{https://bracezqx.org}], <www.wwwzqx.com>.
"""


def test_check_constructs_hide_their_names_but_not_span_text(tmp_path: Path) -> None:
    """Anchors, keys, cross-references, URLs, e-mails, paths and LaTeX in math are no
    prose; the text of a ``[…]{.smallcaps}`` span is."""
    section = Section(tmp_path / "01.a.md", CHECK_CONSTRUCTS)
    found = spelling.unknown_words([section], spelling.Speller())
    assert {word: [(p.line, p.col) for p in places] for word, places in found.items()} == {
        "recieve": [(7, 13)]}
    planted = set(re.findall(r"[a-z]+zqx", CHECK_CONSTRUCTS))
    assert len(planted) == 23  # one in each construct
    assert set(spelling.unknown_words([Section(section.path, " ".join(planted))],
                                      spelling.Speller())) == planted


def test_comments_spanning_lines_and_paragraphs_are_not_prose() -> None:
    text = "Before.\n\n<!--\ncommentword\n\n    indented commentword2\n-->\n\nAfter word.\n"
    assert [w for w, _ in spelling.words(spelling.prose_only(text))] == ["Before", "After",
                                                                          "word"]


def test_words_of_prose_and_what_is_not_a_word() -> None:
    text = ("_Emphasised_ and __strong__ words, a state-of-the-art snake_case "
            "content/metadata.yaml e.g. COVID-19 authors' it\u2019s")
    assert [word for word, _ in spelling.words(text)] == [
        "Emphasised", "and", "strong", "words", "a", "state", "of", "the", "art",
        "authors", "it\u2019s"]
    assert [offset for word, offset in spelling.words(text) if word == "strong"] == [
        text.index("strong")]


# Common misspellings (several would pass as two dictionary fragments: occas+sion).
TYPOS = ("accomodate acheive adress begining beleive concious definately enviroment "
         "existance goverment independant occured occurence recieve seperate succesful "
         "thier wierd arguement occassion correlaton similiar analagous paramter becuase "
         # each passed once as a compound or a frequency-list entry: un+till, public+ally
         "untill publically writting diffrent posession wellfare whereever pasttime "
         "accidently miniscule potatos changable")
# Correct words that dictionaries list in another form: compounds, prefixes, plurals,
# possessives, British spellings.
FINE = ("datasets codebase toolchain pretrained multimodal preprints workflows metadata "
        "subfolders colour behaviour modelling analyses reviewer's didn't preprocessing "
        "timepoints hyperparameters dataframe downsampling backpropagation nonzero "
        "checkpoint subsampled lookups biobanks multiomics "
        # issue #17's examples of technical English once reported, and more like them
        "overfit perceptrons quantile generalizability covariate isoforms eigenvector "
        "univariate Bonferroni Wilcoxon")


@pytest.mark.parametrize("typo", TYPOS.split())
def test_common_misspellings_are_unknown(typo: str) -> None:
    assert typo not in spelling.Speller()


# A slip of a common word is no compound, even where no list of misspellings has it.
SLIPS = "untill writting diffrent posession wellfare whereever becuase"


@pytest.mark.parametrize("typo", SLIPS.split())
def test_a_slip_of_a_common_word_is_not_a_compound(typo: str) -> None:
    speller = spelling.Speller()
    assert not speller._compound(typo)


def test_a_listed_misspelling_suggests_its_correction() -> None:
    # Two edits from "publicly": the distance-1 search alone would offer nothing.
    assert spelling.suggestions("publically") == ["publicly"]
    assert spelling.suggestions("Untill")[0] == "Until"
    assert spelling.corrections("Accidently") == ("accidentally",)
    assert spelling.corrections("alot") == ("a lot", "allot")


def _word_lists() -> dict[str, list[str]]:
    """tests/fixtures/common-misspellings.txt: its [misspellings], [english], [compounds]."""
    lists: dict[str, list[str]] = {}
    current: list[str] = []
    for line in (FIXTURE.parent / "common-misspellings.txt").read_text().splitlines():
        if line.startswith("["):
            current = lists.setdefault(line.strip("[]"), [])
        elif not line.startswith("#"):
            current.extend(line.split())
    return lists


def test_common_misspellings_caught_and_scientific_compounds_not() -> None:
    lists = _word_lists()
    speller = spelling.Speller()
    assert len(lists["misspellings"]) + len(lists["english"]) == 236  # README's count
    # Two pass: wordfreq's list has them, no list of misspellings does, and the right
    # word is less than a hundred times more frequent (README, section Spelling).
    assert [w for w in lists["misspellings"] if w in speller] == ["ecstacy", "undoubtably"]
    assert all(w in speller for w in lists["english"])  # real words: not reported
    assert [w for w in lists["compounds"] if w not in speller] == []


@pytest.mark.parametrize("word", FINE.split())
def test_words_in_other_forms_are_known(word: str) -> None:
    assert word in spelling.Speller()


def test_crlf_sections_and_possessive_names(tmp_path: Path) -> None:
    text = "---\r\ntitle: frontzqx\r\n---\r\n\r\nAlzheimer and teh end\r\n"
    refs = [{"id": "a", "title": "Alzheimer's disease"}]
    speller = spelling.Speller(spelling.reference_words(refs))
    found = spelling.unknown_words([Section(tmp_path / "01.a.md", text)], speller)
    assert {word: [(p.line, p.col) for p in places] for word, places in found.items()} == {
        "teh": [(5, 15)]}


def test_names_of_references_metadata_and_word_lists_are_known(tmp_path: Path) -> None:
    root = _fixture(tmp_path)
    names = {"Wojciechowski", "Xiaoqiang", "Ngcobo", "Thorvaldsdottir", "Quoxological",
             "Zymographic", "glymmerases", "Kwiatkowska", "Instytut", "Zoologii", "Frobnix",
             "snarqlegrum", "Glymmerfax"}
    assert not names & {_word(p) for p in _check(root)}
    # Those the English lists do not know (wordfreq's has common names: "Kwiatkowska")
    # are known only through the manuscript: without its references and lists, all of
    # them are reported.
    unlisted = {name.lower() for name in names if name not in spelling.Speller()}
    assert {"quoxological", "zymographic", "glymmerases", "frobnix", "snarqlegrum",
            "glymmerfax"} <= unlisted  # made up: in no list
    (root / "build" / "assets" / "custom-dictionary.txt").unlink()
    metadata = root / "content" / "metadata.yaml"
    metadata.write_text(metadata.read_text().split("authors:")[0])
    bare = {_word(p).lower() for p in _check(root, refs=[])}
    assert unlisted <= bare


def test_spelling_list_must_be_a_list_of_words(tmp_path: Path) -> None:
    root = _fixture(tmp_path)
    metadata = root / "content" / "metadata.yaml"
    metadata.write_text("title: T\nspelling: 42\n")
    with pytest.raises(ConfigError) as raised:
        _check(root)
    assert str(raised.value).endswith(
        "metadata.yaml:2: spelling: must be a list of words (spelling: [Manubot, preprint])")


BUILDABLE = """## Results

Wojciechowski et al. recieve teh samples [@raw:zymography].
Ada Kwiatkowska uses Frobnix; Teh experiement worked.
"""


def test_spellcheck_switch_writes_rootstocks_files(tmp_path: Path) -> None:
    root = _fixture(tmp_path)
    (root / "content" / "01.text.md").write_text(BUILDABLE)  # no unresolvable citation
    completed = run_manuscript(root, "build", "--no-pdf", env=clean_env(SPELLCHECK="true"))
    output = root / "output"
    assert (output / "spelling-errors.txt").read_text() == "experiement\nrecieve\nteh\n"
    assert (output / "spelling-error-locations.txt").read_text().splitlines() == [
        "content/01.text.md:3:recieve", "content/01.text.md:3:teh",
        "content/01.text.md:4:Teh", "content/01.text.md:4:experiement",
        "content/02.more.md:3:recieve", "content/02.more.md:3:teh",
        "content/02.more.md:3:experiement", "content/02.more.md:3:Teh"]
    summary = [line for line in completed.stderr.splitlines() if "spelling:" in line]
    assert len(summary) == 1 and "3 unknown words: experiement, recieve, teh" in summary[0]
    # Without the switch: no spelling stage, no warning.
    quiet = run_manuscript(root, "build", "--no-pdf")
    assert "spelling" not in quiet.stderr


def test_bundled_manuscript_spells_clean() -> None:
    refs_path = ROOT / "content" / "manual-references.json"
    refs = json.loads(refs_path.read_text()) if refs_path.is_file() else []
    problems = spelling.check_spelling(Config(root=ROOT), read_sections(ROOT / "content"),
                                       refs)
    assert problems == []


# ------------------------------------------------------------------ the shared corpus

PLANTED = "We recieve teh samples and repeat the experiement.\n"
# Slips of technical words in no list of misspellings: found by the lists' silence alone
# (wordfreq's list has none of them).
PLANTED_SLIPS = "The baseine covarite and permutaton of each quantle were stable.\n"
# Manuscripts with rootstock's own spell-check output (upstream/spelling-errors.txt).
SPELLCHECKED = sorted(path.parent.parent.name for path in
                      CORPUS.glob("*/upstream/spelling-errors.txt"))
# Ours lists at most this share of the words rootstock's hunspell listed, on each one.
# Measured (README, section Spelling): 0 to 7 % on four; 37 % on iscb-diversity, whose
# table of sixty example names from ten regions of the world no word list knows.
MAX_SHARE = 0.4


def _corpus_refs(name: str) -> list[dict]:
    return json.loads((CORPUS / name / "upstream" / "references.json").read_text())


@pytest.mark.parametrize("name", SPELLCHECKED or ["(no corpus)"])
def test_corpus_planted_misspellings_found_and_authors_not(
        needs_shared: Path, tmp_path: Path, name: str) -> None:
    source = CORPUS / name
    root = copy_manuscript(source, tmp_path / name, "build")
    refs = _corpus_refs(name)
    families = sorted({a["family"] for item in refs for a in item.get("author", [])
                       if isinstance(a, dict) and a.get("family")})
    assert families
    section = sorted((root / "content").glob("[0-9]*.md"))[1]
    original = section.read_text()
    # The planted lines go first; every family name of the references is written as
    # prose at the end.
    section.write_text(PLANTED + PLANTED_SLIPS + original + "\n\n" + ", ".join(families)
                       + ".\n")
    problems = _check(root, refs)
    found = {_word(p): p for p in problems}
    for line, planted in enumerate((PLANTED, PLANTED_SLIPS), start=1):
        for word in re.findall(r"recieve|teh|experiement|baseine|covarite|permutaton|"
                               r"quantle", planted):
            place = (section, line, planted.index(word) + 1)
            assert (found[word].path, found[word].line, found[word].col) == place
    family_words = {w.lower() for f in families for w in re.findall(r"[^\W\d_]+", f)}
    assert not family_words & {w.lower() for w in found}


@pytest.mark.parametrize("name", SPELLCHECKED or ["(no corpus)"])
def test_corpus_ours_a_fraction_of_rootstocks(needs_shared: Path, name: str) -> None:
    """The same words rootstock's hunspell checked (with the repository's own
    custom-dictionary.txt): ours reports at most MAX_SHARE of them."""
    source = CORPUS / name
    ours = {_word(p) for p in _check(source, _corpus_refs(name))}
    theirs = (source / "upstream" / "spelling-errors.txt").read_text().split()
    assert len(ours) <= MAX_SHARE * len(theirs), sorted(ours)


def test_corpus_rootstock_tour_builds_with_spellcheck(needs_shared: Path, tmp_path: Path) -> None:
    """A whole rootstock repository with SPELLCHECK=true: its custom dictionary is read,
    its Lorem ipsum paragraph is not reported."""
    root = copy_corpus("rootstock-tour", tmp_path / "tour", references="manual")
    run_manuscript(root, "build", "--no-pdf", env=clean_env(SPELLCHECK="true"))
    assert (root / "output" / "spelling-errors.txt").read_text() == ""
    assert (root / "output" / "spelling-error-locations.txt").read_text() == ""


# ------------------------------------------------------------------ bounded (issue #18)

# Each of these, repeated to 100,000 characters, once cost quadratic time in a regular
# expression that scanned to the end of the text from every start ("{{" with no "}}",
# "<script" with no end, an e-mail or URL pattern inside a run of "a.a.a.").
HOSTILE_SHAPES = ["a", "<script", "<style ", "<!--", "{%", "{#", "{{", "[^", "a.b", "a.",
                  "a-", "{#a", "a@b.", "@{", "]("]


@pytest.mark.parametrize("shape", HOSTILE_SHAPES)
def test_hostile_runs_are_blanked_in_linear_time(shape: str) -> None:
    import time

    text = "We recieve " + shape * (100_000 // len(shape)) + " end.\n"
    started = time.process_time()
    found = spelling.unknown_words([Section(Path("01.a.md"), text)], spelling.Speller())
    # Linear: ~0.1-0.6 s here under load; the quadratic patterns took 10 s to minutes.
    assert time.process_time() - started < 5
    assert "recieve" in found  # the prose is still checked


def test_delimited_spans_as_the_lazy_pattern_finds_them() -> None:
    for text in ["a {{ b }} c {{ d", "{% x %}{# y #}{{ z }}", "{{ a {% b }} c %}",
                 "<!-- a --> b <!-- c", "<SCRIPT>x</script> y <style>z", "{{}}}}{{"]:
        lazy = re.compile(r"<!--.*?(?:-->|\Z)|<(?P<t>script|style)\b.*?</(?P=t)\s*>",
                          re.S | re.I).sub(lambda m: re.sub(r"[^\n]", " ", m.group()), text)
        lazy = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S).sub(
            lambda m: re.sub(r"[^\n]", " ", m.group()), lazy)
        ours = spelling._NOT_PROSE[2].sub(None, spelling._NOT_PROSE[0].sub(None, text))
        assert ours == lazy, text


def test_long_runs_of_letters_are_not_words_and_slips_are_lazy() -> None:
    longest = "pneumonoultramicroscopicsilicovolcanoconiosis"  # 45 letters
    assert spelling.needs_checking(longest)
    assert not spelling.needs_checking("a" * (spelling.MAX_WORD_LETTERS + 1))
    slips = spelling._slips("a" * 100_000)
    assert len(next(slips)) == 99_999  # one at a time: never 5.4 million at once
    assert not spelling.Speller()._compound("ab" * 1000)
