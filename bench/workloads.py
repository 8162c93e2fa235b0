"""The manuscripts benchmarked, and fresh copies of them in temporary folders."""

from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

CORPUS_NAMES = ("rootstock-tour", "meta-review")


@dataclass(frozen=True)
class Workload:
    name: str
    source: Path  # folder holding content/ (and maybe analyses/, upstream/, process-args.txt)
    process_args: tuple[str, ...] = field(default=())

    @property
    def upstream(self) -> Path | None:
        path = self.source / "upstream"
        return path if path.is_dir() else None

    def copy_to(self, dest: Path, *, reference: bool) -> Path:
        """A fresh manuscript folder in ``dest``: content/ (+ analyses/) and offline refs.

        Ours gets the upstream references as a previous build's ``output/``; the reference
        toolchain gets them as a manual-references file, which its cite filter reads.
        """
        dest.mkdir(parents=True)
        shutil.copytree(self.source / "content", dest / "content")
        if (self.source / "analyses").is_dir():
            shutil.copytree(self.source / "analyses", dest / "analyses")
        if self.upstream is not None:
            if reference:
                shutil.copy(self.upstream / "references.json",
                            dest / "content" / "manual-references-upstream.json")
            else:
                (dest / "output").mkdir()
                for name in ("references.json", "citations.tsv"):
                    shutil.copy(self.upstream / name, dest / "output" / name)
        return dest


def discover(repo: Path, corpus: Path) -> list[Workload]:
    """The bundled manuscript, then each corpus manuscript that exists."""
    found = [Workload("fm-survey", repo)]
    for name in CORPUS_NAMES:
        folder = corpus / name
        if not (folder / "content").is_dir():
            continue
        args_file = folder / "process-args.txt"
        args = tuple(shlex.split(args_file.read_text())) if args_file.is_file() else ()
        found.append(Workload(name, folder, args))
    return found
