"""Three commits in a row → three versions on the website, sharing unchanged files."""

from __future__ import annotations

import itertools
import random
import struct
import subprocess
import zlib
from pathlib import Path

from helpers import ROOT, copy_manuscript, run_manuscript


def _noise_png(path: Path, size: int = 256) -> None:
    """A real PNG that does not compress, standing in for a figure."""
    rng = random.Random(42)
    rows = b"".join(b"\x00" + bytes(rng.randrange(256) for _ in range(size * 3))
                    for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _disk_use(folder: Path) -> int:
    """Bytes as du counts them: a hard-linked file once."""
    seen: dict[tuple[int, int], int] = {}
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            stat = path.stat()
            seen[(stat.st_dev, stat.st_ino)] = stat.st_size
    return sum(seen.values())


def _commit(root: Path, message: str) -> str:
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", message], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_three_commits_three_versions_growing_with_the_change(tmp_path: Path) -> None:
    root = copy_manuscript(ROOT, tmp_path / "ms")
    _noise_png(root / "content" / "images" / "figure.png")
    intro = root / "content" / "02.introduction.md"
    intro.write_text("## Introduction\n\n![A figure.](images/figure.png){#fig:f}\n",
                     encoding="utf-8")
    (root / ".gitignore").write_text("output/\nwebpage/\n", encoding="utf-8")
    subprocess.run(["git", "init", "-q", str(root)], check=True)

    versions, sizes = [], []
    for n in range(3):
        if n:
            intro.write_text(intro.read_text(encoding="utf-8") + f"\nEdit {n}.\n",
                             encoding="utf-8")
        versions.append(_commit(root, f"edit {n}"))
        run_manuscript(root, "build")
        sizes.append(_disk_use(root / "webpage"))

    v = root / "webpage" / "v"
    for version in versions:
        assert (v / version / "index.html").is_file()
        assert (v / version / "images" / "figure.png").is_file()
    newest = (v / versions[2] / "index.html").read_bytes()
    assert b"Edit 2." in newest and b"Edit 2." not in (v / versions[1] / "index.html").read_bytes()
    assert (v / "latest" / "index.html").read_bytes() == newest
    assert (root / "webpage" / "index.html").read_bytes() == newest
    assert f"../{versions[2]}/" in (v / "freeze" / "index.html").read_text(encoding="utf-8")
    listing = (v / "index.html").read_text(encoding="utf-8")
    assert [listing.index(x) for x in reversed(versions)] == sorted(
        listing.index(x) for x in versions)  # newest first

    build_size = sum(p.stat().st_size for p in (root / "output").iterdir()
                     if p.is_file() and p.suffix in (".html", ".pdf"))
    build_size += (root / "content" / "images" / "figure.png").stat().st_size
    for before, after in itertools.pairwise(sizes):
        assert after - before < build_size, (sizes, build_size)
    # The figure did not change: every version links to the same stored bytes.
    inodes = {(v / x / "images" / "figure.png").stat().st_ino for x in versions}
    assert len(inodes) == 1
