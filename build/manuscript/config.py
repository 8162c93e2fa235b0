"""One frozen Config, built once by the CLI (or a test) and passed to every stage.

Options come from three places, later ones winning: defaults, the manuscript's
``manuscript.toml`` (so authors need no flags), and the command line.

The Config is also the one place that decides what a build reads: the template-variable
files (each ``[NS=]PATH`` spec parsed here, once), the CI identity (repository, commit, run
URL, version) and — through :meth:`Config.layout` — the manuscript's files: sections,
manual references, theme overrides, pandoc defaults and assets. Stage keys, ``serve``'s
watch list and the website all read them from here.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import subprocess
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from .errors import ConfigError, ContentError
from .limits import check_environment
from .network import Door
from .registry import PDF_ENGINES, check_formats
from .sources import check_inside, read_text_file

logger = logging.getLogger(__name__)

CONFIG_FILE = "manuscript.toml"

# Options a manuscript's manuscript.toml may set, with their types.
_FILE_OPTIONS: dict[str, type] = {
    "template-variables-path": list,
    "strict": bool,
    "offline": bool,
    "pdf": bool,
    "formats": list,  # extra outputs: docx, jats, latex (registry.SUPPORTED)
    "pdf-engine": str,  # weasyprint (default) or typst
}
_SHA_RE = re.compile(r"[0-9a-fA-F]{7,64}")


_NAMESPACE = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)=(.+)")


@dataclass(frozen=True)
class VariablesFile:
    """One ``--template-variables-path`` spec, ``[namespace=]location``, as manubot splits it."""

    namespace: str  # "" = merged at the top level
    location: str  # as the user wrote it, for messages
    path: Path  # resolved against the manuscript root

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))

    @classmethod
    def parse(cls, root: Path, spec: str) -> VariablesFile:
        # As manubot splits it: only a valid Jinja2 name counts as a namespace, so a URL
        # with "=" in its query string stays whole.
        match = _NAMESPACE.fullmatch(spec)
        namespace, location = match.groups() if match else ("", spec)
        return cls(namespace, location, (root / location).resolve())


@dataclass(frozen=True)
class CIIdentity:
    """Who is building what: from manubot's CI detection, else git, else nothing.

    ``params`` is exactly what manubot's ``get_continuous_integration_parameters`` returns
    (process writes it into the variables as ``ci_source``); the other fields are the
    parts the build, the website and deploy use.
    """

    params: Mapping[str, str] | None = None
    repo_slug: str | None = None
    commit: str | None = None  # the commit CI checked out (a merge commit on a PR)
    triggering_commit: str | None = None  # the commit pushed (the PR head on a PR)
    run_url: str | None = None
    version: str = "local"  # the website version: the triggering commit, else git HEAD
    head: str | None = None  # git HEAD of the manuscript (manubot seeds author order by it)


@dataclass(frozen=True)
class Layout:
    """The manuscript's input files at one moment (``Config.layout()`` scans again)."""

    content_files: tuple[Path, ...]  # everything under content/ (sections, metadata, images…)
    sections: tuple[Path, ...]  # content/NN.name.md, in build order
    manual_references: tuple[Path, ...]  # content/manual-references*.*
    images_dir: Path | None  # content/images, published beside the page
    images: tuple[Path, ...]
    theme_files: tuple[Path, ...]  # build/theme/**: template.html, css/*.css, js/*.js
    pandoc_defaults: tuple[Path, ...]  # build/pandoc/defaults/*.yaml (rootstock's)
    assets: tuple[Path, ...]  # build/assets/** (style.csl)
    variables_files: tuple[Path, ...]  # --template-variables-path files

    def render_inputs(self) -> tuple[Path, ...]:
        """What the html stage reads besides the processed manuscript and references."""
        return (*self.theme_files, *self.pandoc_defaults, *self.assets)


@dataclass(frozen=True)
class Config:
    root: Path
    template_variables_paths: tuple[str, ...] = ()
    strict: bool = False
    offline: bool = False  # never reach the network for citations; a missing one is an error
    pdf: bool = True
    formats: tuple[str, ...] = ()
    pdf_engine: str = "weasyprint"
    verbose: bool = False
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType(dict(os.environ)))
    template_variables: tuple[VariablesFile, ...] = ()
    ci: CIIdentity = field(default_factory=CIIdentity)

    @property
    def content_dir(self) -> Path:
        return self.root / "content"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def webpage_dir(self) -> Path:
        return self.root / "webpage"

    @property
    def cache_dir(self) -> Path:
        return self.root / "ci" / "cache"

    @property
    def theme_dir(self) -> Path:
        return self.root / "build" / "theme"

    @property
    def pandoc_defaults_dir(self) -> Path:
        return self.root / "build" / "pandoc" / "defaults"

    @property
    def assets_dir(self) -> Path:
        return self.root / "build" / "assets"

    @property
    def version(self) -> str:
        return self.ci.version

    @property
    def spellcheck(self) -> bool:
        """Rootstock's ``SPELLCHECK=true``: the build writes spelling-errors.txt and
        spelling-error-locations.txt (manuscript.spelling)."""
        return spellcheck_requested(self.env)

    @functools.cached_property
    def network(self) -> Door:
        """The run's one door to the network (network.py): every fetch goes through it,
        so its memory of unreachable hosts holds for the whole run."""
        return Door(offline=self.offline)

    @property
    def github_actions(self) -> bool:
        return self.env.get("GITHUB_ACTIONS") == "true"

    def source_locations(self) -> tuple[Path, ...]:
        """Every file or folder a build reads (folders recursively): serve watches these."""
        return (self.content_dir, self.root / CONFIG_FILE, self.theme_dir,
                self.pandoc_defaults_dir, self.assets_dir,
                *(spec.path for spec in self.template_variables))

    def layout(self) -> Layout:
        content = _files(self.content_dir)
        images = self.content_dir / "images"
        return Layout(
            content_files=content,
            sections=tuple(sorted(_utf8_name(p) for p in self.content_dir.glob("[0-9]*.md"))),
            manual_references=tuple(sorted(self.content_dir.rglob("manual-references*.*"))),
            images_dir=images if images.is_dir() else None,
            images=_files(images),
            theme_files=_files(self.theme_dir),
            pandoc_defaults=tuple(sorted(self.pandoc_defaults_dir.glob("*.yaml"))),
            assets=_files(self.assets_dir),
            variables_files=tuple(spec.path for spec in self.template_variables),
        )


def _files(folder: Path) -> tuple[Path, ...]:
    if not folder.is_dir():
        return ()
    return tuple(sorted(_utf8_name(p) for p in folder.rglob("*") if p.is_file()))


def _utf8_name(path: Path) -> Path:
    """A file name that is not UTF-8 (bytes decoded as surrogates, e.g. "\\udcff") is
    refused by name: every digest, log line and page it reaches would fail to encode it
    (a UnicodeEncodeError traceback from the build's first stage)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        shown = str(path).encode("utf-8", "backslashreplace").decode("ascii", "replace")
        raise ContentError(f"{shown}: file name is not valid UTF-8: rename the file",
                           None) from None
    return path


def read_config_file(root: Path) -> dict[str, object]:
    """Read ``manuscript.toml``; unknown keys and wrong types are errors naming the file."""
    path = root / CONFIG_FILE
    if not path.exists() and not path.is_symlink():
        return {}
    check_inside(root, path)  # a link out would read (and print parts of) any file
    try:
        data = tomllib.loads(read_text_file(path))  # UTF-8, else an error with its line
    except tomllib.TOMLDecodeError as error:
        line = getattr(error, "lineno", None)
        raise ConfigError(f"invalid TOML: {error}", path, line) from None
    except RecursionError:  # tomllib recurses per level of [[[…]]] or {a={b=…}}
        raise ConfigError("invalid TOML: nested too deeply", path) from None
    for key, value in data.items():
        expected = _FILE_OPTIONS.get(key)
        if expected is None:
            known = ", ".join(sorted(_FILE_OPTIONS))
            raise ConfigError(f"unknown option {key!r} (known: {known})", path)
        if not isinstance(value, expected):
            raise ConfigError(f"option {key!r} must be a {expected.__name__}", path)
    return data


def make_config(
    root: Path,
    *,
    template_variables_paths: Sequence[str] = (),
    strict: bool | None = None,
    offline: bool | None = None,
    pdf: bool | None = None,
    formats: Sequence[str] = (),
    pdf_engine: str | None = None,
    verbose: bool = False,
    env: Mapping[str, str] | None = None,
) -> Config:
    """Merge defaults, ``manuscript.toml`` and explicit options into a Config."""
    root = root.resolve()
    if not (root / "content").is_dir():
        raise ConfigError("no content/ folder: run in a manuscript's root or pass -C DIR", root)
    file_options = read_config_file(root)
    env = dict(os.environ if env is None else env)
    check_source_date_epoch(env)
    check_environment(env)  # MANUSCRIPT_PANDOC_TIMEOUT=1e999…: an error before any work
    switches = build_switches(env)  # rootstock's BUILD_PDF=false…, below the command line

    def pick(explicit: bool | None, key: str, default: bool) -> bool:
        if explicit is not None:
            return explicit
        return bool(file_options.get(key, default))

    paths = [str(p) for p in file_options.get("template-variables-path", [])]  # type: ignore[union-attr]
    paths += list(template_variables_paths)
    specs = tuple(dict.fromkeys(paths))
    return Config(
        root=root,
        template_variables_paths=specs,
        strict=pick(strict, "strict", False),
        offline=pick(offline, "offline", env.get("MANUSCRIPT_OFFLINE") == "1"),
        pdf=pick(pdf if pdf is not None else switches.get("pdf"), "pdf", True),
        **_format_options(root, file_options, formats, pdf_engine, env),
        verbose=verbose,
        env=MappingProxyType(env),
        template_variables=tuple(VariablesFile.parse(root, spec) for spec in specs),
        ci=ci_identity(root, env),
    )


def check_source_date_epoch(env: Mapping[str, str]) -> int | None:
    """``SOURCE_DATE_EPOCH`` (reproducible builds) must be whole seconds since 1970."""
    value = env.get("SOURCE_DATE_EPOCH")
    if not value:
        return None
    # ASCII digits only ("²".isdigit() is true, int() refuses it), and no later than the
    # last second datetime knows: 10**20 passed and was an OverflowError traceback.
    # (12 digits at most: int() of a 5,000-digit string is itself an error.)
    if (not re.fullmatch(r"\s*[0-9]{1,12}\s*", value)
            or int(value) > _LAST_EPOCH):
        raise ConfigError(f"SOURCE_DATE_EPOCH must be a number of seconds since 1970-01-01 "
                          f"(a Unix timestamp, at most {_LAST_EPOCH}), not {value!r}")
    return int(value)


_LAST_EPOCH = 253402300799  # 9999-12-31 23:59:59 UTC, datetime's last second


# ---------------------------------------------------------------------- CI identity


def ci_identity(root: Path, env: Mapping[str, str]) -> CIIdentity:
    """Work out, once, which repository and commit this build is for."""
    params = manubot_ci_parameters(env)
    head = _git_head(root)
    if params is None:
        return CIIdentity(version=head or "local", head=head)
    triggering = params.get("triggering_commit", "").strip()
    version = triggering if _SHA_RE.fullmatch(triggering) else head or "local"
    return CIIdentity(
        params=MappingProxyType(dict(params)),
        repo_slug=params["repo_slug"],
        commit=params.get("commit"),
        triggering_commit=triggering or None,
        run_url=_run_url(params, env),
        version=version,
        head=head,
    )


def manubot_ci_parameters(env: Mapping[str, str]) -> dict[str, str] | None:
    """manubot's CI detection (it reads ``os.environ``), applied to ``env``."""
    from manubot.process.ci import get_continuous_integration_parameters

    try:
        if dict(os.environ) == dict(env):  # the usual case: the CLI's own environment
            return get_continuous_integration_parameters()
        # A Config made with another environment (tests, serve): swap it in briefly.
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        try:
            return get_continuous_integration_parameters()
        finally:
            os.environ.clear()
            os.environ.update(saved)
    except KeyError as missing:
        raise ConfigError(f"CI environment variable {missing} is not set") from None
    except ValueError:  # a repository slug that is not owner/name
        # manubot unpacks split("/") into two names: its own message ("too many values to
        # unpack") names neither the variable nor the value.
        names = ("GITHUB_REPOSITORY", "TRAVIS_REPO_SLUG", "APPVEYOR_REPO_NAME")
        name = next((n for n in names if env.get(n)), names[0])
        raise ConfigError(f"CI environment variable {name} is not owner/name: "
                          f"{env.get(name, '')!r}") from None


def _run_url(params: Mapping[str, str], env: Mapping[str, str]) -> str | None:
    if params.get("provider") == "github" and env.get("GITHUB_RUN_ID"):
        # GitHub Enterprise runs live on another server; manubot assumes github.com.
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{params['repo_slug']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return params.get("job_url")


def _git_head(root: Path) -> str | None:
    try:
        result = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],
                                capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        logger.debug("git rev-parse failed: %s", error)
        return None
    sha = result.stdout.strip()
    return sha if result.returncode == 0 and _SHA_RE.fullmatch(sha) else None


def _format_options(root: Path, file_options: dict, formats: Sequence[str],
                    pdf_engine: str | None, env: Mapping[str, str]) -> dict:
    """``formats`` (manuscript.toml's, rootstock's BUILD_DOCX/BUILD_LATEX switches and
    the command line's, joined) and ``pdf_engine``."""
    where = root / CONFIG_FILE if file_options else None
    try:
        chosen = check_formats([*file_options.get("formats", []), *formats_from_env(env),
                                *formats])
    except ConfigError as error:
        raise ConfigError(error.message, where) from None
    engine = pdf_engine or str(file_options.get("pdf-engine", "weasyprint"))
    if engine not in PDF_ENGINES:
        raise ConfigError(f"unknown pdf-engine {engine!r} (known: {', '.join(PDF_ENGINES)})",
                          where)
    return {"formats": chosen, "pdf_engine": engine}


# ------------------------------------------------------------------ rootstock's switches

# The environment variables rootstock's build/build.sh reads, read here and nowhere else:
# BUILD_PDF is off only when "false", the others are on only when "true", exactly as
# build.sh tests them. make_config turns them into options; Config.spellcheck is the last.
FORMAT_SWITCHES = {"BUILD_DOCX": "docx", "BUILD_LATEX": "latex"}


def build_switches(env: Mapping[str, str]) -> dict[str, bool]:
    """Config options set by rootstock's environment switches, warning about the rest.

    ``BUILD_PDF=false`` is ``--no-pdf``. ``BUILD_HTML`` is not a rootstock switch and
    cannot be honoured: the PDF and the website are made from the HTML, so it is
    always built, and ``BUILD_HTML=false`` says so.
    """
    options: dict[str, bool] = {}
    if env.get("BUILD_PDF", "true") == "false":
        options["pdf"] = False
    if env.get("BUILD_HTML", "true") == "false":
        logger.warning("BUILD_HTML=false is ignored: the PDF and the website are made from "
                       "the HTML, so it is always built (BUILD_PDF=false skips the PDF)")
    return options


def formats_from_env(env: Mapping[str, str]) -> list[str]:
    """Formats rootstock's ``BUILD_DOCX=true`` / ``BUILD_LATEX=true`` switch on."""
    return [fmt for var, fmt in FORMAT_SWITCHES.items()
            if env.get(var) == "true"]  # exactly as build.sh tests them


def spellcheck_requested(env: Mapping[str, str]) -> bool:
    """``SPELLCHECK=true``: the build writes rootstock's spelling-errors.txt and
    spelling-error-locations.txt (manuscript.spelling)."""
    return env.get("SPELLCHECK") == "true"


def pandoc_defaults_folder(root: Path, env: Mapping[str, str] | None = None) -> Path:
    """``$PANDOC_DATA_DIR/defaults`` as in rootstock's build.sh (default ``build/pandoc``)."""
    return root / ((env or {}).get("PANDOC_DATA_DIR") or "build/pandoc") / "defaults"
