"""``manuscript init``: start a new manuscript, or switch a rootstock repository to this one.

A new manuscript is the template in ``data/init/manuscript/``: it builds at once, offline,
and shows each feature (citation, figure, table, equation, cross-references) once.
``--adopt`` leaves an existing Manubot repository's ``content/`` and ``build/`` as they
are and adds only what this pipeline needs: the workflow, ``requirements.txt`` pinning
this package, and ``manuscript.toml`` with the options that rootstock's
``build/build.sh`` passed to ``manubot process``.

Nothing that exists is overwritten: an existing file is kept (and reported), and
``.gitignore`` only gains the lines it lacks.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import yaml

from .errors import InitError
from .render import read_pandoc_defaults

logger = logging.getLogger(__name__)

PACKAGE_NAME = "fm-survey-manuscript"
PACKAGE_REPOSITORY = "https://github.com/AdaptInfer/fm-survey"
# What the README tells a new user to install; `init` then pins the commit pip recorded.
INSTALL_SPEC = f"{PACKAGE_NAME} @ git+{PACKAGE_REPOSITORY}"
VENDOR = "vendor"  # where a wheel of a local install is written, for requirements.txt
WHEEL_TIMEOUT = 600.0

WORKFLOW = ".github/workflows/manuscript.yaml"
REQUIREMENTS = "requirements.txt"
CONFIG = "manuscript.toml"
IGNORED = ("/output/", "/webpage/", "/ci/cache/", ".venv/", "__pycache__/")

# What becomes of each part of a rootstock repository (only those present are reported).
# build/pandoc/defaults/{common,html}.yaml are reported key by key (see _defaults_note).
_ROOTSTOCK: tuple[tuple[str, str, str], ...] = (
    ("build/assets/style.csl", "honoured", "the citation style"),
    ("build/pandoc/defaults/common.yaml", "", ""),  # per key: see _defaults_note
    ("build/pandoc/defaults/html.yaml", "", ""),
    ("build/theme", "honoured", "your overrides of the bundled theme"),
    ("build/themes", "replaced",
     "by the bundled theme; a file in build/theme/ (template.html, css/*.css, js/*.js) "
     "replaces the bundled file of that name"),
    ("build/plugins", "replaced",
     "by the bundled theme's scripts (contents, anchors, citation previews, zoom); "
     "math becomes MathML at build time, without MathJax"),
    ("build/pandoc/defaults/pdf-weasyprint.yaml", "replaced",
     "the PDF is printed from the HTML page by WeasyPrint"),
    ("build/pandoc/defaults/docx.yaml", "unused", "no DOCX output"),
    ("build/pandoc/defaults/latex.yaml", "unused", "no LaTeX output"),
    ("build/build.sh", "replaced", "by `manuscript build`"),
    ("build/autobuild.sh", "replaced", "by `manuscript serve`"),
    ("build/environment.yml", "replaced", f"by {REQUIREMENTS}"),
    ("build/assets/custom-dictionary.txt", "honoured",
     "known words of the spelling check (SPELLCHECK=true, `manuscript check`)"),
    ("ci/deploy.sh", "replaced", "by `manuscript deploy`, in the workflow's deploy job"),
    ("ci/install.sh", "unused", "the workflow installs the package"),
    ("ci/install-spellcheck.sh", "unused", "the spelling check needs no hunspell"),
    (".github/workflows/manubot.yaml", "remove",
     "rootstock's build: it deploys to gh-pages too, and two deploys would race"),
    (".appveyor.yml", "remove", "rootstock's AppVeyor build"),
    (".travis.yml", "remove", "rootstock's Travis build"),
)
# manubot process options whose rootstock values are the folders this pipeline uses.
_PROCESS_FOLDERS = {"--content-directory": "content", "--output-directory": "output",
                    "--cache-directory": "ci/cache"}
_BUILD_PDF = re.compile(r'^\s*BUILD_PDF="\$\{BUILD_PDF:-(true|false)\}"', re.MULTILINE)


@dataclass(frozen=True)
class Note:
    """What becomes of one part of an adopted repository."""

    path: str  # relative to the manuscript root, or "file:line"
    verdict: str  # honoured | replaced | unused | remove | carried | not carried
    detail: str


@dataclass
class InitResult:
    root: Path
    adopted: bool
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # existed already: left as they were
    ignored: list[str] = field(default_factory=list)  # lines added to .gitignore
    options: dict[str, object] = field(default_factory=dict)  # carried into manuscript.toml
    notes: list[Note] = field(default_factory=list)


@dataclass(frozen=True)
class Pin:
    """requirements.txt's line for this package, and any file it needs beside it."""

    spec: str
    files: dict[str, bytes] = field(default_factory=dict)  # relative path → bytes
    source: str = ""  # what it was read from, for the summary


def installed_pin() -> Pin:
    """The source the running ``manuscript`` was installed from (PEP 610 ``direct_url.json``).

    A new manuscript must install what made it: its README and workflow run
    ``pip install -r requirements.txt``. A VCS install pins the recorded commit; an
    archive by URL pins that URL; a local folder (editable or not) or a local archive
    cannot be reached from CI, so a wheel of it is written into ``vendor/`` and pinned
    by relative path. From an index (no direct_url.json): that version, by name.
    """
    try:
        dist = metadata.distribution(PACKAGE_NAME)
    except metadata.PackageNotFoundError:
        raise InitError(f"{PACKAGE_NAME} is not installed (running from a source folder?), so "
                        "there is nothing to pin: install it with pip, or pass "
                        "--package-spec") from None
    text = dist.read_text("direct_url.json")
    if not text:
        return Pin(f"{PACKAGE_NAME}=={dist.version}", source="a package index")
    try:
        data = json.loads(text)
        url = str(data["url"])
    except (ValueError, KeyError, TypeError) as error:
        raise InitError(f"cannot read where {PACKAGE_NAME} was installed from "
                        f"(direct_url.json: {error}); pass --package-spec") from None
    subdirectory = data.get("subdirectory")
    fragment = f"#subdirectory={subdirectory}" if subdirectory else ""
    if isinstance(data.get("vcs_info"), dict):
        vcs = data["vcs_info"]
        commit = vcs.get("commit_id") or vcs.get("requested_revision")
        at = f"@{commit}" if commit else ""
        return Pin(f"{PACKAGE_NAME} @ {vcs.get('vcs', 'git')}+{url}{at}{fragment}",
                   source=f"{url}{at}")
    if isinstance(data.get("archive_info"), dict) and not url.startswith("file:"):
        hashes = data["archive_info"].get("hashes") or {}
        digest = "".join(f"#{name}={value}" for name, value in list(hashes.items())[:1])
        return Pin(f"{PACKAGE_NAME} @ {url}{digest}", source=url)
    local = Path(url2pathname(urlsplit(url).path))
    if local.is_file():  # a wheel or sdist on this disk: carried along
        name, data_bytes = local.name, local.read_bytes()
    elif local.is_dir():
        name, data_bytes = _build_wheel(local)
    else:
        raise InitError(f"{PACKAGE_NAME} was installed from {url}, which is gone; "
                        "pass --package-spec")
    rel = f"{VENDOR}/{name}"
    return Pin(f"./{rel}", {rel: data_bytes}, source=str(local))


def _build_wheel(source: Path) -> tuple[str, bytes]:
    """A wheel of the local project ``source`` (pip's PEP 517 build)."""
    with tempfile.TemporaryDirectory(prefix="manuscript-wheel-") as out:
        base = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", out]
        # Without isolation first: offline, and the backend of an editable install is
        # there; with it (which fetches the backend) if not.
        error = ""
        for isolation in (["--no-build-isolation"], []):
            try:
                done = subprocess.run([*base, *isolation, str(source)], capture_output=True,
                                      text=True, timeout=WHEEL_TIMEOUT, check=False)
            except (OSError, subprocess.SubprocessError) as failure:
                error = str(failure)
                continue
            wheels = sorted(Path(out).glob("*.whl"))
            if done.returncode == 0 and len(wheels) == 1:
                return wheels[0].name, wheels[0].read_bytes()
            error = (done.stderr.strip().splitlines() or ["no wheel written"])[-1]
    raise InitError(f"{PACKAGE_NAME} runs from the local folder {source}, which CI cannot "
                    f"install; building a wheel of it for {VENDOR}/ failed ({error}). Pass "
                    f"--package-spec, e.g. '{INSTALL_SPEC}@<commit>'")


def new_manuscript(root: Path, package_spec: str | None = None) -> InitResult:
    """Write a new manuscript into ``root`` (created if missing) that builds at once.

    ``package_spec``: requirements.txt's line; by default :func:`installed_pin`."""
    if package_spec is not None:
        _check_spec(package_spec)
    if root.exists() and not root.is_dir():
        raise InitError("exists and is not a folder", root)
    if (root / "content").exists():
        raise InitError("already holds a manuscript: `manuscript init --adopt` switches "
                        "it to this pipeline; nothing was written", root / "content")
    files = {**_template("manuscript"), **_common_files(root, package_spec)}
    result = InitResult(root=root, adopted=False)
    _write(root, files, result)
    return result


def adopt(root: Path, package_spec: str | None = None) -> InitResult:
    """Add this pipeline to a rootstock repository; ``content/`` and ``build/`` untouched."""
    if package_spec is not None:
        _check_spec(package_spec)
    if not (root / "content").is_dir():
        raise InitError("no content/ folder: not a Manubot manuscript to adopt; "
                        "`manuscript init` starts a new one", root)
    # A defaults file the build would stop on stops the adoption first, before any write.
    honoured_defaults = read_pandoc_defaults(root).settings
    options, carried = carry_over(root)
    result = InitResult(root=root, adopted=True, options=options)
    files = _common_files(root, package_spec)
    if options:
        files[CONFIG] = config_toml(options).encode("utf-8")
    else:
        files[CONFIG] = _template("manuscript")[CONFIG]
    _write(root, files, result)
    if options and CONFIG in result.kept:
        carried = [Note(n.path, "not carried", f"{n.detail}: {CONFIG} exists, add it there")
                   if n.verdict == "carried" else n for n in carried]
    result.notes = [*carried, *survey(root, set(honoured_defaults))]
    return result


def carry_over(root: Path) -> tuple[dict[str, object], list[Note]]:
    """manuscript.toml options from rootstock's ``build/build.sh``, read conservatively.

    Only literal ``--template-variables-path`` values of a ``manubot process`` command
    and a ``BUILD_PDF`` default of false are carried; anything computed by the shell
    is reported instead of guessed.
    """
    script = root / "build" / "build.sh"
    if not script.is_file():
        return {}, []
    text = script.read_text(encoding="utf-8", errors="replace")
    options: dict[str, object] = {}
    notes: list[Note] = []
    paths: list[str] = []
    for line, args in _manubot_process_args(text):
        where = f"build/build.sh:{line}"
        for name, value in args:
            if name == "--template-variables-path" and value and not _computed(value):
                paths.append(value)
                notes.append(Note(where, "carried", f"template-variables-path {value}"))
            elif name == "--template-variables-path":
                why = f"{value} is computed by the shell" if value else "has no value"
                notes.append(Note(where, "not carried", f"{name} {why}"))
            elif name in _PROCESS_FOLDERS and value != _PROCESS_FOLDERS[name]:
                notes.append(Note(where, "not carried",
                                  f"{name} {value}: this pipeline always uses "
                                  f"{_PROCESS_FOLDERS[name]}/"))
    if paths:
        options["template-variables-path"] = list(dict.fromkeys(paths))
    pdf_default = _BUILD_PDF.search(text)
    if pdf_default and pdf_default.group(1) == "false":
        options["pdf"] = False
        line = text.count("\n", 0, pdf_default.start()) + 1
        notes.append(Note(f"build/build.sh:{line}", "carried", "pdf = false (BUILD_PDF)"))
    return options, notes


def survey(root: Path, honoured_defaults: set[str]) -> list[Note]:
    """What of rootstock's files this pipeline honours, replaces or leaves unused."""
    notes = []
    for path, verdict, detail in _ROOTSTOCK:
        if not verdict and (root / path).is_file():
            notes.append(_defaults_note(root, path, honoured_defaults))
        elif verdict and (root / path).exists():
            notes.append(Note(path, verdict, detail))
    return notes


def config_toml(options: dict[str, object]) -> str:
    """``manuscript.toml`` text for the options (strings, booleans, lists of strings)."""
    lines = ["# Options for `manuscript build`, `check` and `serve`; a command-line flag wins.",
             "# Carried over from build/build.sh by `manuscript init --adopt`."]
    for key, value in options.items():
        lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def format_result(result: InitResult) -> str:
    """What was done and what to do next, for the terminal."""
    where = _shown(result.root)
    out = []
    if result.adopted:
        out.append(f"Adopted the Manubot manuscript in {where}: content/ and build/ "
                   "are unchanged.")
    else:
        out.append(f"Wrote a new manuscript in {where}.")
    out += [f"  wrote {entry}" for entry in _grouped(result.written)]
    out += [f"  kept  {rel} (it exists)" for rel in result.kept]
    if result.ignored:
        out.append(f"  .gitignore: added {' '.join(result.ignored)}")
    if result.notes:
        out.append("")
        out.append("What becomes of the repository's own files:")
        width = max(len(n.verdict) for n in result.notes)
        out += [f"  {n.verdict:<{width}}  {n.path} — {n.detail}" for n in result.notes]
    out += ["", "Next:"]
    if where != ".":
        out.append(f"  cd {shlex.quote(where)}")
    out += [f"  git rm {n.path}" for n in result.notes if n.verdict == "remove"]
    out += ["  python3 -m venv .venv && . .venv/bin/activate && "
            f"python -m pip install -r {REQUIREMENTS}",
            "  manuscript build        # output/manuscript.html, output/manuscript.pdf",
            "  commit, push to GitHub, then Settings → Pages → Deploy from a branch: "
            "gh-pages, / (root)"]
    return "\n".join(out)


def _grouped(paths: list[str]) -> list[str]:
    """``content/`` (12 files) instead of twelve lines; single files as they are."""
    groups: dict[str, list[str]] = {}
    for path in paths:
        top = path.split("/", 1)[0]
        groups.setdefault(top if top != ".github" else path, []).append(path)
    return [members[0] if len(members) == 1 else f"{top}/ ({len(members)} files)"
            for top, members in groups.items()]


def _template(name: str) -> dict[str, bytes]:
    """The files of ``data/init/<name>/``: relative path → bytes."""
    files: dict[str, bytes] = {}

    def walk(node: Traversable, prefix: str) -> None:
        for child in node.iterdir():
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            else:
                files[f"{prefix}{child.name}"] = child.read_bytes()

    walk(resources.files("manuscript") / "data" / "init" / name, "")
    return files


def _common_files(root: Path, package_spec: str | None) -> dict[str, bytes]:
    """What both a new and an adopted manuscript get: the workflow and the pin."""
    workflow = (resources.files("manuscript") / "data" / "init" / "workflow.yaml").read_bytes()
    files = {WORKFLOW: workflow}
    if (root / REQUIREMENTS).exists():  # kept as it is (and reported): nothing to build
        return {**files, REQUIREMENTS: b""}
    pin = Pin(package_spec, source="--package-spec") if package_spec else installed_pin()
    logger.debug("requirements.txt pins %s (from %s)", pin.spec, pin.source)
    requirements = (
        "# The pipeline that builds this manuscript (the `manuscript` command), pinned to\n"
        "# the source that wrote it. To upgrade, pin a newer commit of\n"
        f"# {PACKAGE_REPOSITORY}: {INSTALL_SPEC}@<commit>\n"
        f"{pin.spec}\n"
    )
    return {**files, **pin.files, REQUIREMENTS: requirements.encode("utf-8")}


def _write(root: Path, files: dict[str, bytes], result: InitResult) -> None:
    """Write each file that does not exist yet; extend .gitignore.

    First, every place to write is checked: none may lead out of ``root`` through a
    symbolic link (``.github -> /elsewhere``, ``.gitignore -> ~/.gitignore``), or init
    would write or append to files of the machine. One that does stops init before
    anything is written.
    """
    for rel in [*sorted(files), ".gitignore"]:
        _check_write_inside(root, root / rel)
    try:
        for rel, data in sorted(files.items()):
            path = root / rel
            if path.exists() or path.is_symlink():
                result.kept.append(rel)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            result.written.append(rel)
        result.ignored = _extend_gitignore(root / ".gitignore")
    except OSError as error:
        where = Path(error.filename) if error.filename else root
        raise InitError(f"cannot write: {error.strerror or error}", where) from None


def _check_write_inside(root: Path, path: Path) -> None:
    """An InitError naming the first part of ``path`` (below ``root``) that is a
    symbolic link resolving outside ``root`` (broken links included: writing through
    one would create its target)."""
    top = root.resolve()
    current = root
    for part in path.relative_to(root).parts:
        current = current / part
        if not current.is_symlink():
            continue
        try:
            target = current.resolve()
        except (OSError, RuntimeError) as error:  # a loop of links
            raise InitError(f"cannot be resolved ({error}); nothing was written",
                            current) from None
        if not target.is_relative_to(top):
            raise InitError(f"symbolic link to {target}, outside the manuscript folder: "
                            "refused; nothing was written", current)


def _extend_gitignore(path: Path) -> list[str]:
    """Add the lines of IGNORED that ``.gitignore`` lacks (however it spells them)."""
    # surrogateescape: a .gitignore in another encoding is written back byte for byte.
    text = path.read_bytes().decode("utf-8", "surrogateescape") if path.exists() else ""
    present = {_ignore_key(line) for line in text.splitlines()
               if line.strip() and not line.lstrip().startswith(("#", "!"))}
    missing = [entry for entry in IGNORED if _ignore_key(entry) not in present]
    if not missing:
        return []
    if text and not text.endswith("\n"):
        text += "\n"
    block = ("\n" if text else "") + "# manuscript: build outputs, citation cache, virtual env\n"
    path.write_bytes((text + block + "\n".join(missing) + "\n")
                     .encode("utf-8", "surrogateescape"))
    return missing


def _ignore_key(pattern: str) -> str:
    return pattern.strip().removesuffix("/*").strip("/")


def _manubot_process_args(text: str) -> list[tuple[int, list[tuple[str, str | None]]]]:
    """(line, [(option, value)]) of each ``manubot process`` command in a shell script."""
    found = []
    for line, command in _logical_lines(text):
        try:
            tokens = shlex.split(command, comments=True)
        except ValueError:  # unbalanced quotes: not a line we can read safely
            logger.debug("build.sh:%d: cannot split %r", line, command)
            continue
        for i in range(len(tokens) - 1):
            if tokens[i].rsplit("/", 1)[-1] == "manubot" and tokens[i + 1] == "process":
                found.append((line, _options(tokens[i + 2:])))
    return found


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with backslash continuations joined, each with its first line number."""
    lines, start, parts = [], 1, []
    for number, raw in enumerate(text.splitlines(), start=1):
        if not parts:
            start = number
        if raw.rstrip().endswith("\\"):
            parts.append(raw.rstrip()[:-1])
            continue
        parts.append(raw)
        lines.append((start, " ".join(parts)))
        parts = []
    if parts:
        lines.append((start, " ".join(parts)))
    return lines


def _options(tokens: list[str]) -> list[tuple[str, str | None]]:
    """``--name=value`` / ``--name value`` / ``--flag`` up to the end of the command."""
    options: list[tuple[str, str | None]] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in ("&&", "||", ";", "|", "&") or token.endswith(";"):
            break
        if token.startswith("--") and "=" in token:
            name, value = token.split("=", 1)
            options.append((name, value))
        elif token.startswith("--"):
            value = tokens[i + 1] if i + 1 < len(tokens) else None
            if value is not None and (value.startswith("-") or value in ("&&", "||", ";")):
                value = None
            options.append((token, value))
            if value is not None:
                i += 1
        i += 1
    return options


def _computed(value: str) -> bool:
    return any(c in value for c in "$`*?[")


def _defaults_note(root: Path, rel: str, honoured: set[str]) -> Note:
    # Known valid: read_pandoc_defaults parsed it first.
    keys = list(yaml.safe_load((root / rel).read_text(encoding="utf-8")) or {})
    used = [k for k in keys if k in honoured]
    dropped = [k for k in keys if k not in honoured]
    detail = ", ".join(used) or "none of its settings"
    if dropped:
        detail += f" ({', '.join(dropped)}: this pipeline's own)"
    return Note(rel, "honoured" if used else "replaced", detail)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_string(str(v)) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _toml_string(text: str) -> str:
    """A TOML basic string: escape quotes, backslashes and control characters."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _check_spec(spec: str) -> None:
    # One line of requirements.txt: anything else would smuggle in more lines or options.
    if not spec.strip() or "\n" in spec or "\r" in spec or spec.lstrip().startswith("-"):
        raise InitError(f"--package-spec must be one requirement, like "
                        f"'{INSTALL_SPEC}@<commit>'; got {spec!r}")


def _shown(path: Path) -> str:
    try:
        rel = path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return str(path)
    return rel.as_posix() or "."
