"""The manuscripts benchmarked, and fresh copies of them in temporary folders."""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

# Every corpus manuscript: the five whole rootstock repositories, then meta-review
# (content/ and analyses/ only).
REPOSITORY_NAMES = ("rootstock-tour", "ccc", "mpmp", "xswap", "iscb-diversity")
CORPUS_NAMES = (*REPOSITORY_NAMES, "meta-review")
# The `large` workload is made from these two (its numbers in README.md were measured so).
LARGE_SOURCES = ("rootstock-tour", "meta-review")


@dataclass(frozen=True)
class Workload:
    name: str
    source: Path  # folder holding content/ (and maybe analyses/, upstream/, process-args.txt)
    process_args: tuple[str, ...] = field(default=())
    repository: bool = False  # a whole rootstock repository: ours builds it in its root

    @property
    def upstream(self) -> Path | None:
        path = self.source / "upstream"
        return path if path.is_dir() else None

    def copy_to(self, dest: Path, *, reference: bool) -> Path:
        """A fresh manuscript folder in ``dest`` with offline references.

        Ours gets a repository whole, as its author has it (``build/``, ``ci/``,
        ``webpage/`` with its symbolic links kept as links, ``.github/``), else content/
        (+ analyses/), and the upstream references as a previous build's ``output/``. The
        reference toolchain gets content/ (+ analyses/), since it brings its own
        ``build/``, and the references as a manual-references file, which its cite filter
        reads.
        """
        if self.repository and not reference:
            shutil.copytree(self.source, dest, symlinks=True,
                            ignore=lambda folder, _names: ["upstream"]
                            if Path(folder) == self.source else [])
            _make_writable(dest)
        else:
            dest.mkdir(parents=True)
            shutil.copytree(self.source / "content", dest / "content", symlinks=True)
            if (self.source / "analyses").is_dir():
                shutil.copytree(self.source / "analyses", dest / "analyses", symlinks=True)
            _make_writable(dest)
        if self.upstream is not None:
            if reference:
                shutil.copy(self.upstream / "references.json",
                            dest / "content" / "manual-references-upstream.json")
            else:
                (dest / "output").mkdir(exist_ok=True)
                for name in ("references.json", "citations.tsv"):
                    shutil.copy(self.upstream / name, dest / "output" / name)
        return dest


def _make_writable(root: Path) -> None:
    """The corpus is read-only; its copy must not be. Links are left alone (they dangle)."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | 0o200)


def discover(repo: Path, corpus: Path) -> list[Workload]:
    """The bundled manuscript, then each corpus manuscript that exists."""
    found = [Workload("fm-survey", repo)]
    for name in CORPUS_NAMES:
        folder = corpus / name
        if not (folder / "content").is_dir():
            continue
        args_file = folder / "process-args.txt"
        args = tuple(shlex.split(args_file.read_text())) if args_file.is_file() else ()
        found.append(Workload(name, folder, args, repository=name in REPOSITORY_NAMES))
    return found


# ── the generated `large` workload ───────────────────────────────────────────────────
# About 300 KB of Markdown, 600 references, 40 figures, 100 equations and 20 tables, made
# deterministically from the corpus: rootstock-tour's and meta-review's sections repeated
# with renamed labels, plus a supplement that tops figures, equations, tables and cited
# references up to those counts. Every reference is a manual `raw:` item (the upstream CSL
# items, then synthetic ones), so neither toolchain needs the network.

LARGE_REFERENCES, LARGE_FIGURES, LARGE_EQUATIONS, LARGE_TABLES = 600, 40, 100, 20
LARGE_BYTES = 240_000  # repeated sections (4 copies); the supplement brings it to ~300 KB
CITEKEY = re.compile(r"@(?:doi|pmid|pmcid|pmc|pubmed|arxiv|isbn|url|tag|wikidata|raw|https?)"
                     r":[^\s;\],]*[^\s;\],.:!?)]")
LABEL = re.compile(r"([#@])(fig|tbl|eq):\s*([\w-]+)")
TEMPLATE_VARIABLE = re.compile(r"\{\{[^}]*\}\}")
ALIAS_DEFINITION = re.compile(r"^\[@([^\]]+)\]: .*\n", re.MULTILINE)


def generate_large(corpus: Path, dest: Path) -> Workload:
    """Write the `large` manuscript into ``dest`` (a temporary folder) and describe it."""
    tour, meta = corpus / "rootstock-tour" / "content", corpus / "meta-review" / "content"
    content = dest / "content"
    content.mkdir(parents=True)
    for name in ("metadata.yaml", "00.front-matter.md", "01.abstract.md", "90.back-matter.md"):
        shutil.copy(tour / name, content / name)
    shutil.copytree(meta / "images", content / "images")
    for image in (tour / "images").iterdir():
        shutil.copy(image, content / "images" / image.name)

    items = _large_references(corpus)
    (content / "manual-references.json").write_text(json.dumps(items, indent=1) + "\n")
    ids = itertools.cycle(item["id"] for item in items)
    sources = [(tour / "02.delete-me.md").read_text(), (meta / "02.main-text.md").read_text()]
    # Citation aliases (`[@deep-review]: doi:…` lines) are dropped; their uses become raw: ids.
    aliases = sorted({a for text in sources for a in ALIAS_DEFINITION.findall(text)}, key=len)
    sources = [ALIAS_DEFINITION.sub("", text) for text in sources]
    alias_use = re.compile("|".join(f"@{re.escape(a)}\\b" for a in reversed(aliases)))
    size, copy = 0, 0
    while size < LARGE_BYTES:
        copy += 1
        text = "\n\n".join(sources)
        text = TEMPLATE_VARIABLE.sub("42", text)
        text = LABEL.sub(lambda m, k=copy: f"{m[1]}{m[2]}:{m[3]}-{k}", text)
        text = CITEKEY.sub(lambda _m: f"@{next(ids)}", text)
        text = alias_use.sub(lambda _m: f"@{next(ids)}", text)
        text = f"## Part {copy}\n\n" + re.sub(r"^(#+ )", r"#\1", text, flags=re.MULTILINE)
        (content / f"{10 + copy:02d}.part.md").write_text(text)
        size += len(text.encode())
    every = "\n".join(p.read_text() for p in sorted(content.glob("*.part.md")))
    counts = {kind: len(re.findall(r"\{#" + kind + r":", every)) for kind in ("fig", "tbl", "eq")}
    cited = {m[1:] for m in CITEKEY.findall(every)}
    (content / "80.supplement.md").write_text(_supplement(
        LARGE_FIGURES - counts["fig"], LARGE_EQUATIONS - counts["eq"],
        LARGE_TABLES - counts["tbl"], [i["id"] for i in items if i["id"] not in cited]))
    return Workload("large", dest)


def _large_references(corpus: Path) -> list[dict]:
    """The upstream CSL items of both corpus manuscripts, then synthetic ones, as raw: ids."""
    items = []
    for name in LARGE_SOURCES:
        items += json.loads((corpus / name / "upstream" / "references.json").read_text())
    for n in range(len(items), LARGE_REFERENCES):
        items.append({"type": "article-journal", "title": f"Synthetic reference number {n}",
                      "container-title": f"Journal of Benchmarks {n % 17}",
                      "volume": str(n % 40 + 1), "page": f"{n}-{n + 9}",
                      "issued": {"date-parts": [[1990 + n % 35, n % 12 + 1]]},
                      "author": [{"family": f"Author{n}", "given": "Ann"},
                                 {"family": f"Coauthor{n % 23}", "given": "Bo"}]})
    # The upstream notes carry `standard_id: doi:…`, which both toolchains would take as the
    # item's id instead of the raw: one.
    return [{k: v for k, v in item.items() if k != "note"} | {"id": f"raw:ref-{n:03d}"}
            for n, item in enumerate(items[:LARGE_REFERENCES])]


def _supplement(figures: int, equations: int, tables: int, uncited: list[str]) -> str:
    """Extra figures, equations (the tour's math, varied), tables and the uncited references."""
    parts = ["## Supplement\n"]
    images = ("workflow.svg", "plugins.png", "deep-review-contribution-ridge.png")
    for n in range(max(figures, 0)):
        parts.append(f"![Supplementary figure {n}, see @fig:supp-{n - 1 if n else 0}.]"
                     f"(images/{images[n % 3]}){{#fig:supp-{n} width=3in}}\n")
    for n in range(max(equations, 0)):
        parts.append(f"As @eq:supp-{n} shows,\n\n$$\\int_0^{{{n + 1}}} e^{{-x^2}} dx "
                     f"= \\frac{{\\sqrt{{\\pi}}}}{{2}} \\operatorname{{erf}}({n + 1}) "
                     f"+ \\sum_{{k=1}}^{{{n + 2}}} \\frac{{1}}{{k^2}}$$ {{#eq:supp-{n}}}\n")
    for n in range(max(tables, 0)):
        rows = "\n".join(f"| {r} | {r * n} | {r + n:.1f} |" for r in range(1, 6))
        parts.append(f"| item | product | sum |\n|---|---:|---:|\n{rows}\n\n"
                     f"Table: Supplementary table {n}, as in @tbl:supp-{n}. {{#tbl:supp-{n}}}\n")
    for start in range(0, len(uncited), 6):
        group = "; ".join(f"@{i}" for i in uncited[start:start + 6])
        parts.append(f"Further reading on this point [{group}].\n")
    return "\n".join(parts)
