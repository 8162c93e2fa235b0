"""Offline spelling check of the manuscript's Markdown sources.

Interface shared by ``manuscript check`` (the runner calls :func:`check_spelling`) and the
build (rootstock's ``SPELLCHECK=true``: :func:`build_outputs`, a stage of build.py).

What rootstock's check (hunspell over pandoc's text) gets wrong, and this one does not:

* **Names are words.** Every word of the manuscript's own references (authors' family
  and given names, titles, journals), of its metadata (authors, affiliations) and of its
  ``spelling:`` list and ``build/assets/custom-dictionary.txt`` is known.
* **Not prose, not checked.** Code, math, citations and cross-references, URLs and link
  targets, attributes, HTML tags and comments, Jinja2 and YAML front matter are blanked
  out of the *raw* section text (same length, same newlines), so every position reported
  is a line and column of the file the author edits.
* **One word, one report.** A word is reported once, at its first place, naming the
  others; rootstock lists it again for every line it is on (and every line that merely
  contains it in another word's sense).

The English word list is the union of lists shipped in PyPI wheels, so no download
happens at run time: pyspellchecker's (MIT; also gives the suggestions), the SCOWL
derived frequency list that symspellpy ships (MIT), which brings British spellings and
much of the scientific vocabulary the first lacks (``colour``, ``workflow``,
``metadata``), and wordfreq's large English list (data CC BY-SA 4.0), which brings the
rest of technical English and common names (``overfit``, ``covariate``, ``Zhang``).
All hold typos people make often; codespell's list of common misspellings (data only)
overrules them, and a word only wordfreq knows is a typo when a slip of it is a hundred
times more frequent. Measurements: README, section Spelling.

Bounded: every pass over the text is linear in its length (no regular expression that
rescans the rest of the text from each start), and runs of letters longer than any
word are not checked, so hostile input costs time and memory in proportion to its size.
"""

from __future__ import annotations

import bisect
import functools
import importlib.util
import logging
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from spellchecker import SpellChecker

from .config import Config
from .errors import ConfigError
from .problems import Problem
from .sources import MATH, Section, blank_code, read_sections, read_text_file

logger = logging.getLogger(__name__)

CODE = "spelling"
CUSTOM_DICTIONARY = Path("build") / "assets" / "custom-dictionary.txt"  # rootstock's place
DATA = Path(__file__).parent / "data" / "spelling"
MAX_OTHER_PLACES = 5  # named in a message; the locations file lists every one
COMMON_COUNT = 1_000_000  # uses in symspellpy's counts for a word to make compounds
# A word found only in wordfreq's list is taken for a typo when a slip of it is this many
# centibels more frequent (200: a hundred times): "experiement" is 1,300 times rarer than
# "experiment", "funders" 13 times rarer than "founders", "quantile" 3 times rarer than
# "quartile". Measured: README, section Spelling.
TYPO_RATIO = 200
MAX_SUMMARY_WORDS = 10  # named in the build's one warning; spelling-errors.txt has them all
# Longer runs of letters are not checked: no dictionary word is longer (the longest in
# the big English dictionaries has 45 letters), and the cost of checking a word, its
# slips and compounds, grows with the square of its length.
MAX_WORD_LETTERS = 45

# ------------------------------------------------------------------ what is not prose

_BLANKABLE = re.compile(r"[^\n]")


def _pattern(*parts: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{part})" for part in parts), flags)


# YAML front matter at the top of a section (pandoc's yaml_metadata_block)
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n.*?\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
# After the front matter and the code (sources.blank_code: a "$" or "@" in code is
# code), in this order: comments and templates, then math, then the Markdown
# constructs whose text is not prose.
class _Delimited:
    """Spans from an opener to the first closer after it ("<!-- … -->", "{{ … }}"),
    found in time linear in the text, as ``opener.*?closer`` with re.S would find them.

    Why not that regular expression: where a closer never comes ("{{{{…" or "<script"
    written 10,000 times) it scans to the end of the text from every opener, quadratic
    time: a hostile section of 100,000 such characters took minutes. Here each kind of
    closer is searched for at most once per position it can be at, and not again once
    it is known to be absent.
    """

    def __init__(self, opener: str, closers: Mapping[str, str | None], flags: int = 0):
        self.opener = re.compile(opener, flags)
        # kind (the opener as written, lower case) → closer; None: the span runs to the end
        self.closers = {kind: None if closer is None else re.compile(closer, flags)
                        for kind, closer in closers.items()}

    def sub(self, replace: Callable[[re.Match[str]], str], text: str) -> str:
        del replace  # same call shape as re.Pattern.sub; spans are always blanked
        parts: list[str] = []
        done = pos = 0
        found: dict[str, tuple[int, int] | None] = {}  # kind → the next closer (start, end)
        while (opened := self.opener.search(text, pos)) is not None:
            kind = opened.group().lower()
            closer = self.closers[_kind(kind, self.closers)]
            if closer is None:
                end = len(text)
            else:
                key = _kind(kind, self.closers)
                cached = found.get(key, (-1, -1))
                if cached is not None and cached[0] < opened.end():
                    match = closer.search(text, opened.end())
                    cached = found[key] = None if match is None else match.span()
                if cached is None:
                    pos = opened.start() + 1  # no closer of this kind: another opener may
                    continue
                end = cached[1]
            parts += [text[done:opened.start()], _BLANKABLE.sub(" ", text[opened.start():end])]
            done = pos = end
        return "".join([*parts, text[done:]])


def _kind(opened: str, closers: Mapping[str, object]) -> str:
    """The closers' key an opener as written belongs to ("<SCRIPT" → "<script")."""
    return next(kind for kind in closers if opened.startswith(kind))


_NOT_PROSE: tuple[re.Pattern[str] | _Delimited, ...] = (
    # HTML comments (multi-line; unclosed: to the end), whole script and style elements
    _Delimited(r"<!--|<(?:script|style)\b",
               {"<!--": r"-->|\Z", "<script": r"</script\s*>", "<style": r"</style\s*>"}, re.I),
    # attributes {#fig:x width="60%"} {.class} {-} {key=value}, before Jinja's {# #}
    _pattern(r"\{[ \t]*[#.\-][^{}\n]*\}", r"\{[^{}\n]*=[^{}\n]*\}"),
    # Jinja2 expressions, statements, comments
    _Delimited(r"\{[{%#]", {"{{": r"\}\}", "{%": r"%\}", "{#": r"#\}"}),
    # display math, raw LaTeX environments, inline math as pandoc reads it ($ next to text)
    MATH,
    # LaTeX commands outside math (\newpage), HTML entities
    _pattern(r"\\[A-Za-z]+", r"&#?\w+;"),
    # reference-style definitions: "[@tag:x]: doi:…", "[label]: https://…"
    _pattern(r"^[ \t]{0,3}\[[^\]\n]+\]:[ \t]*\S.*$", flags=re.M),
    # placeholder text: a paragraph that starts "Lorem ipsum" (rootstock's template has one)
    _pattern(r"^[ \t]*Lorem ipsum\b.*?(?:\n[ \t]*\n|\Z)", flags=re.S | re.M | re.I),
    # pandoc fenced div lines "::: {.note}" / ":::"
    _pattern(r"^[ \t]*:{3,}.*$", flags=re.M),
    # citation keys in braces, before URLs: a URL would stop at the closing brace and
    # leave "[@{url:" behind ("url" was reported on real manuscripts)
    _pattern(r"(?<!\w)@\{[^{}\n]*\}"),
    # link and image targets ](…), e-mail addresses, URLs
    _pattern(r"\]\((?:[^()\n]|\([^()\n]*\))*\)", r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+",
             r"(?<![\w+.-])(?:[a-z][a-z0-9+.-]*://|www\.|doi:10\.)[^\s<>\"\]]*"),
    # citations and cross-references: [@doi:…], @fig:x, +@tbl:y, [@{https://…}], [^note]
    _pattern(r"(?:(?<![\w@])|(?<=(?<!\w)_))@\w[\w:.#$%&+?<>~/-]*",
             r"\[\^[^\[\]\n]*\]"),
    # HTML tags (their names and attributes; the text between them is prose)
    _pattern(r"</?[A-Za-z][\w:-]*(?:\s[^<>]*)?/?>"),
)


def prose_only(text: str) -> str:
    """``text`` with everything that is not prose blanked: same length, same newlines."""
    text = blank_code(_FRONT_MATTER.sub(lambda m: _BLANKABLE.sub(" ", m.group()), text))
    for pattern in _NOT_PROSE:
        text = pattern.sub(lambda match: _BLANKABLE.sub(" ", match.group()), text)
    return text


# ------------------------------------------------------------------ words

# A chunk of letters and digits joined by word-internal characters. A chunk holding a
# path, version, domain or identifier character ("metadata.yaml", "e.g", "and/or",
# "x=1") is not a word of prose; hyphens and apostrophes join the parts of words.
_CHUNK = re.compile(r"[^\W_](?:[\w'\u2019\-./\\:=+]*[^\W_])?")  # "_emphasis_": no "_"
_IDENTIFIER_CHARS = re.compile(r"[./\\:=+_\d]")
_PART = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")
_APOSTROPHE_SUFFIXES = ("'s", "'d", "'ll", "'re", "'ve", "'m", "n't", "'t")
_ROMAN = re.compile(r"[ivx]+")
_CAPS_PLURAL = re.compile(r"[A-Z]{2,}s")  # "APIs", "GPUs": acronyms, skipped as acronyms


@dataclass(frozen=True)
class Place:
    path: Path
    line: int
    col: int  # 1-based, in characters
    word: str  # as written there ("Teh" at the start of a sentence)


def words(text: str) -> Iterator[tuple[str, int]]:
    """(word, offset) for every word of prose in ``text`` (already :func:`prose_only`).

    A hyphenated compound is checked part by part ("state-of-the-art": four words).
    """
    for chunk in _CHUNK.finditer(text):
        if _IDENTIFIER_CHARS.search(chunk.group().replace("-", "")):
            continue  # a path, number, identifier, abbreviation like "e.g"
        for part in _PART.finditer(chunk.group()):
            yield part.group(), chunk.start() + part.start()


def needs_checking(word: str) -> bool:
    """False for what no dictionary holds and no typo looks like: one letter, more than
    :data:`MAX_WORD_LETTERS`, acronyms
    (ALL CAPS, "GPUs"), mixed case ("bioRxiv", "GitHub"), Roman numerals, other scripts."""
    if len(word) < 2 or len(word) > MAX_WORD_LETTERS:
        return False  # a long run of letters is a sequence, a hash or garbage, not prose
    if word.isupper() or _CAPS_PLURAL.fullmatch(word):
        return False
    if any(char.isupper() for char in word[1:]) or _ROMAN.fullmatch(word):
        return False
    return all(char < "\u0250" or char in "'\u2019" for char in word)  # Latin script only


def _fold(word: str) -> str:
    """Lower case, typographic apostrophe as ASCII, accents off ("naïve" → "naive")."""
    word = word.lower().replace("\u2019", "'")
    if word.isascii():  # nearly every word: no decomposition to do
        return word
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


# ------------------------------------------------------------------ dictionaries


@functools.cache
def english_words() -> frozenset[str]:
    """The English word list (folded), from the two wheels' data files, loaded once."""
    return frozenset({*(_fold(word) for word in _pyspellchecker_words()),
                      *(_fold(word) for word, _count in _symspell_counts()),
                      *(_fold(word) for word in _word_file(DATA / "extra-words.txt"))})


@functools.cache
def frequent_words() -> Mapping[str, int]:
    """wordfreq's large English list: each word (folded) → its frequency in centibels
    (100 x log10 of uses per billion words: 100 is once per billion, 600 once per
    thousand). The vocabulary of Wikipedia, subtitles, books, news and the web, so of
    science and software too (``overfit``, ``quantile``, ``covariate``, ``isoforms``,
    ``eigenvector``) and of names (``Zhang``, ``Kumar``).

    Read from the wheel's data file (its documented "cB" format: a header, then one
    list of words per centibel, most frequent first), without importing wordfreq, whose
    import pulls a tokenizer this check does not use. Typos people make often are in
    it too (``recieve``): the Speller trusts a word found only here when no list of
    misspellings has it and no slip of it is far more frequent (:data:`TYPO_RATIO`).
    """
    import gzip

    import msgpack

    path = _package_file("wordfreq", "data/large_en.msgpack.gz")
    data = msgpack.unpackb(gzip.decompress(path.read_bytes()), strict_map_key=False)
    if not data or data[0] != {"format": "cB", "version": 1}:
        raise ConfigError(f"{path}: not the word list format this check reads "
                          "(wordfreq's cB version 1): pip install -r requirements.lock")
    # The list at index i after the header holds the words of frequency 10^(-i/100).
    # Rarest first, so that a word in two lists keeps its higher frequency. Words are
    # already lower case; those with accents are only looked up folded, so never found
    # (their folded forms are listed too: "naive"). No loop in Python: 0.2 s, not 1 s.
    found: dict[str, int] = {}
    for index in range(len(data) - 1, 0, -1):
        found.update(dict.fromkeys(data[index], 901 - index))
    return found


@functools.cache
def core_words() -> frozenset[str]:
    """The words compounds are made of: symspellpy's common ones (a million uses or
    more in its Google Books counts: "data", "base", "flow") and ours. Rarer entries of
    either list include fragments ("occas", "sion", "correl", "glimmer") that would join
    into typos or made-up words ("occassion", "correlaton")."""
    words = {_fold(word) for word, count in _symspell_counts() if count >= COMMON_COUNT}
    words.update(_fold(word) for word in _word_file(DATA / "extra-words.txt"))
    return frozenset(words)


@functools.cache
def misspellings() -> Mapping[str, str]:
    """Common misspellings (lower case) → codespell's corrections, as written there;
    from codespell's dictionary (CC BY-SA 3.0: Wikipedia's "Lists of common
    misspellings", grown by use in large projects): ``untill``, ``publically``,
    ``accidently``. Some pass every rule of the Speller (``un`` + ``till``, ``public`` +
    ``ally``) or sit in the frequency lists, which hold what people type, typos included.
    The corrections are parsed only for a word reported (:func:`corrections`)."""
    path = _package_file("codespell_lib", "data/dictionary.txt")
    lines = path.read_text(encoding="utf-8").lower().splitlines()
    return dict(line.split("->", 1) for line in lines if "->" in line)


def corrections(word: str) -> tuple[str, ...]:
    """codespell's corrections of ``word``: ``wrong->right`` or ``wrong->right1,
    right2,``; without the trailing comma, the last of several parts is a reason."""
    parts = [part.strip() for part in misspellings().get(_fold(word), "").split(",")]
    if len(parts) > 1 and parts[-1]:
        parts.pop()  # "clas->class, disabled because of name clash in c++"
    return tuple(part for part in parts if part)


def _package_file(package: str, name: str) -> Path:
    """A data file inside an installed package, found without importing the package
    (symspellpy's import pulls its C edit-distance extension, which only suggestions need)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the Python package {package!r} is missing: the spelling check "
                          "needs it (pip install -r requirements.lock)")
    return Path(next(iter(spec.submodule_search_locations))) / name


def _pyspellchecker_words() -> Iterable[str]:
    # The suggester's own list: read once, for both.
    return _suggester().word_frequency.dictionary.keys()


@functools.cache
def _symspell_counts() -> tuple[tuple[str, int], ...]:
    path = _package_file("symspellpy", "frequency_dictionary_en_82_765.txt")
    with path.open(encoding="utf-8") as file:
        return tuple((word, int(count)) for word, count in map(str.split, file))


def _word_file(path: Path) -> list[str]:
    """One word a line; rootstock's aspell header ("personal_ws-1.1 en 22") and # comments
    are not words."""
    if not path.is_file():
        return []
    return [line.strip() for line in read_text_file(path).splitlines()
            if line.strip() and not line.startswith(("personal_ws-", "#"))]


def _words_in(values: Iterable[object]) -> set[str]:
    """The folded words of ``values``' strings; a possessive gives its name too
    ("Alzheimer's" → "alzheimer's", "alzheimer")."""
    found: set[str] = set()
    for value in values:
        if isinstance(value, str):
            for match in _PART.finditer(value):
                word = _fold(match.group())
                found.update((word, word.removesuffix("'s")))
    return found


def reference_words(csl_items: Sequence[Mapping]) -> set[str]:
    """Words of the references: names, titles, journals, publishers."""
    values: list[object] = []
    for item in csl_items:
        for key in ("title", "container-title", "container-title-short", "collection-title",
                    "publisher", "event", "original-title", "title-short"):
            values.append(item.get(key))
        for role in ("author", "editor", "translator", "container-author",
                     "collection-editor", "reviewed-author"):
            names = item.get(role)
            for name in names if isinstance(names, list) else ():
                if isinstance(name, Mapping):
                    values.extend(name.get(part) for part in
                                  ("family", "given", "literal", "non-dropping-particle",
                                   "dropping-particle", "suffix"))
    return _words_in(values)


def manuscript_words(config: Config) -> set[str]:
    """Known words the manuscript brings: metadata's authors and affiliations, its
    ``spelling:`` list, and rootstock's ``build/assets/custom-dictionary.txt``."""
    from . import yamlfile  # here: yamlfile imports sources, which imports nothing of ours

    known = _words_in(_word_file(config.root / CUSTOM_DICTIONARY))
    path = config.content_dir / "metadata.yaml"
    if not path.is_file():
        return known
    # Duplicate keys are the metadata check's to report; the words are known either way.
    loaded = yamlfile.load(path, keep_duplicates=True)
    metadata = loaded.data if isinstance(loaded.data, dict) else {}
    listed = metadata.get("spelling", [])
    if not isinstance(listed, list) or not all(isinstance(w, str) for w in listed):
        raise ConfigError("spelling: must be a list of words (spelling: [Manubot, preprint])",
                          path, loaded.line("spelling"))
    known.update(_words_in(listed))
    known.update(_words_in([metadata.get("title"), *_strings(metadata.get("keywords"))]))
    for author in metadata.get("authors") or []:
        if isinstance(author, dict):
            known.update(_words_in([author.get("name"), *_strings(author.get("affiliations"))]))
    return known


def _strings(value: object) -> list[object]:
    return value if isinstance(value, list) else [value]


# ------------------------------------------------------------------ checking


class Speller:
    """Decides whether a word is known: the English list plus ``extra`` (folded) words,
    allowing what dictionaries list only in one form: possessives, plurals, compounds."""

    PREFIXES = ("pre", "re", "un", "non", "multi", "co", "sub", "inter", "intra", "meta",
                "bio", "cross", "self", "over", "under", "semi", "anti", "post", "auto",
                "micro", "macro", "pseudo", "hyper", "de", "mis", "out", "trans", "cyber",
                "nano", "mono", "poly", "tele", "geo", "neuro", "immuno")

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self.english = english_words()
        self.core = core_words()
        self.misspelled = misspellings()
        self.extra = frozenset(extra)
        self._known: dict[str, bool] = {}  # words repeat: decide each once

    def __contains__(self, word: str) -> bool:
        folded = _fold(word)
        if folded not in self._known:
            self._known[folded] = self.known(folded)
        return self._known[folded]

    @functools.cached_property
    def frequent(self) -> Mapping[str, int]:
        """wordfreq's list, loaded when a word is first not in the others (~0.5 s)."""
        return frequent_words()

    def _slip_of_frequent(self, folded: str) -> bool:
        """A slip (:func:`_slips`) of ``folded`` is :data:`TYPO_RATIO` more frequent in
        wordfreq's list: ``folded`` is a typo people make, not a word of its own."""
        bar = self.frequent[folded] + TYPO_RATIO
        return any(self.frequent.get(near, 0) >= bar for near in _slips(folded))

    def _listed(self, folded: str) -> bool:
        return folded in self.english or folded in self.extra

    def known(self, folded: str) -> bool:
        if folded in self.extra or folded in self.core:
            return True  # the manuscript's own words, and common ones ("nam", "gage")
        if folded in self.misspelled:
            return False  # even where a frequency list has it ("accidently")
        if self._listed(folded):
            return True
        for suffix in _APOSTROPHE_SUFFIXES:  # possessives and contractions
            if folded.endswith(suffix) and len(folded) > len(suffix) + 1:
                return self.known(folded[: -len(suffix)])
        stem = self._singular(folded)
        if stem and self._listed(stem):
            return True
        for word in (folded, stem):
            if word and word in self.frequent:
                return not self._slip_of_frequent(word)
        return self._compound(folded)

    @staticmethod
    def _singular(folded: str) -> str | None:
        if folded.endswith("ies") and len(folded) > 4:
            return folded[:-3] + "y"
        if folded.endswith("es") and folded[-3:-2] in ("s", "x", "z", "h"):
            return folded[:-2]
        if folded.endswith("s") and not folded.endswith("ss") and len(folded) > 3:
            return folded[:-1]
        return None

    def _compound(self, folded: str) -> bool:
        """A prefix and a known word ("pretrained"), or two known words of four letters
        or more ("codebase", "toolchain"); shorter parts would let typos through
        ("glimmer" + "fax"). Not a compound: one slip away from a common word
        ("untill": un + till, but until; "writting", "diffrent", "posession")."""
        if len(folded) > MAX_WORD_LETTERS or self._slip_of_common(folded):
            return False  # too long to be one (and quadratic to try)
        for prefix in self.PREFIXES:
            rest = folded[len(prefix):]
            if folded.startswith(prefix) and len(rest) >= 4 and self._plain(rest):
                return True
        return any(self._plain(folded[:cut]) and self._plain(folded[cut:])
                   for cut in range(4, len(folded) - 3))

    def _slip_of_common(self, folded: str) -> bool:
        """One letter added, dropped, changed or swapped, after the first, makes a
        common word: how typos look. A slip in the first letter ("pretrained" from
        "retrained") or a plural's "s" is how real compounds look, so those count not."""
        return any(near in self.core for near in _slips(folded))

    def _plain(self, folded: str) -> bool:
        """A part of a compound: a word of the core list or the manuscript's, or its plural."""
        stem = self._singular(folded)
        return any(word in self.core or word in self.extra for word in (folded, stem) if word)


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _slips(word: str) -> Iterator[str]:
    """Every string one edit from ``word`` that keeps its first letter, less its plural
    and singular. Generated one at a time, not compared with each word of a list: ~54 per
    letter, so the caller stops at the first hit and memory stays that of one string.
    (A set of them all, as before, held 54 x n strings of n letters: a 100,000-letter
    token took 24 GB.) Words longer than :data:`MAX_WORD_LETTERS` never get here."""
    skip = {word, word + "s", word.removesuffix("s")}
    for cut in range(1, len(word) + 1):
        head, tail = word[:cut], word[cut:]
        candidates: list[str] = []
        if tail:
            candidates.append(head + tail[1:])  # dropped
            candidates.extend(head + letter + tail[1:] for letter in _LETTERS)  # changed
        if len(tail) > 1:
            candidates.append(head + tail[1] + tail[0] + tail[2:])  # swapped
        candidates.extend(head + letter + tail for letter in _LETTERS)  # added
        yield from (candidate for candidate in candidates if candidate not in skip)


def unknown_words(sections: Sequence[Section], speller: Speller) -> dict[str, list[Place]]:
    """Each unknown word (as first written) → every place it is, in section order.

    Words are grouped by their folded form: "Teh" at the start of a sentence and "teh"
    inside one are one word.
    """
    found: dict[str, list[Place]] = defaultdict(list)
    first_form: dict[str, str] = {}
    for section in sections:
        text = prose_only(section.text.replace("\r", " "))  # CRLF files: same columns
        line_starts = [0, *(m.end() for m in re.finditer("\n", text))]
        for word, offset in words(text):
            if not needs_checking(word) or word in speller or _prefix(text, word, offset):
                continue
            line = bisect.bisect_right(line_starts, offset) - 1
            folded = _fold(word)
            first_form.setdefault(folded, word)
            found[folded].append(Place(section.path, line + 1, offset - line_starts[line] + 1,
                                       word))
    return {first_form[folded]: places for folded, places in found.items()}


def _prefix(text: str, word: str, offset: int) -> bool:
    """"pre-registered", "non-trivial", "co-author": a prefix written with its hyphen."""
    end = offset + len(word)
    return text[end:end + 1] == "-" and word.lower() in Speller.PREFIXES


@functools.cache
def _suggester() -> SpellChecker:
    # pyspellchecker: edit distance 1 only (distance 2 costs ~0.3 s for a long word).
    return SpellChecker(language="en", distance=1)


def suggestions(word: str, limit: int = 2) -> list[str]:
    """Up to ``limit`` known words one edit away, most frequent first (cheap: distance 1)."""
    checker = _suggester()
    lower = word.lower()
    # A listed misspelling's own corrections first: "publically" is two edits from
    # "publicly", beyond the distance-1 search below.
    listed = list(corrections(word))
    candidates = checker.candidates(lower) or set()
    ranked = listed + sorted((c for c in candidates if c != lower and c not in listed),
                             key=lambda c: (-checker.word_usage_frequency(c), c))
    if word[:1].isupper():
        ranked = [c[:1].upper() + c[1:] for c in ranked]
    return ranked[:limit]


def check_spelling(config: Config, sections: Sequence[Section],
                   csl_items: Sequence[Mapping]) -> list[Problem]:
    """One ``spelling`` warning per unknown word, at its first place, naming the others.

    ``sections`` are the raw ``content/NN.*.md`` files (positions are in them);
    ``csl_items`` the manuscript's references (their names and titles are known words).
    """
    speller = Speller(reference_words(csl_items) | manuscript_words(config))
    problems = []
    for word, places in unknown_words(sections, speller).items():
        first, others = places[0], places[1:]
        message = f"unknown word {word!r}"
        offered = suggestions(word)
        if offered:
            message += " (did you mean " + " or ".join(repr(w) for w in offered) + "?)"
        if others:
            shown = ", ".join(_where(config, p) for p in others[:MAX_OTHER_PLACES])
            more = len(others) - MAX_OTHER_PLACES
            message += f"; also at {shown}" + (f" and {more} more" if more > 0 else "")
        problems.append(Problem(first.path, first.line, first.col, "warning", CODE, message))
    return sorted(problems)


def _where(config: Config, place: Place) -> str:
    return f"{_relative(config, place.path)}:{place.line}:{place.col}"


# ------------------------------------------------------------------ rootstock's files


def rootstock_outputs(config: Config, sections: Sequence[Section],
                      csl_items: Sequence[Mapping]) -> tuple[dict[str, bytes], list[str]]:
    """``spelling-errors.txt`` and ``spelling-error-locations.txt`` as rootstock's
    ``SPELLCHECK=true`` writes them, and the unknown words (sorted as in those files).

    rootstock: one word a line, ``sort -fu``; one ``content/FILE.md:LINE:word`` a line,
    sorted by file, then line. Unlike rootstock's (``grep`` for each word), a place is
    listed only where the word is prose, and once.
    """
    speller = Speller(reference_words(csl_items) | manuscript_words(config))
    found = unknown_words(sections, speller)
    ordered = sorted(found, key=lambda word: (word.casefold(), word))
    locations = sorted(
        (_relative(config, place.path), place.line, place.col, place.word)
        for places in found.values() for place in places)
    errors = "".join(f"{word}\n" for word in ordered)
    located = "".join(f"{path}:{line}:{word}\n" for path, line, _col, word in locations)
    return ({"spelling-errors.txt": errors.encode("utf-8"),
             "spelling-error-locations.txt": located.encode("utf-8")}, ordered)


def _relative(config: Config, path: Path) -> str:
    return (path.relative_to(config.root) if path.is_relative_to(config.root)
            else path).as_posix()


def build_outputs(config: Config, csl_items: Sequence[Mapping]) -> dict[str, bytes]:
    """The build's spelling stage (``SPELLCHECK=true``): rootstock's two files, and one
    summary warning naming the words.

    One warning, not one per word: rootstock prints its list once at the end of the
    build and never fails it; here a warning per word would bury the build's other
    warnings, and the per-word detail (every place, suggestions) is what
    ``manuscript check`` and the locations file are for.
    """
    outputs, unknown = rootstock_outputs(config, read_sections(config.content_dir), csl_items)
    if unknown:
        shown = ", ".join(unknown[:MAX_SUMMARY_WORDS])
        more = len(unknown) - MAX_SUMMARY_WORDS
        logger.warning("spelling: %d unknown word%s: %s%s (places: output/"
                       "spelling-error-locations.txt; add proper words to %s or to "
                       "`spelling:` in content/metadata.yaml)", len(unknown),
                       "" if len(unknown) == 1 else "s", shown,
                       f" and {more} more" if more > 0 else "", CUSTOM_DICTIONARY.as_posix())
    return outputs
