"""One frozen Config, built once by the CLI (or a test) and passed to every stage.

Options come from three places, later ones winning: defaults, the manuscript's
``manuscript.toml`` (so authors need no flags), and the command line.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from .errors import ConfigError

CONFIG_FILE = "manuscript.toml"

# Options a manuscript's manuscript.toml may set, with their types.
_FILE_OPTIONS: dict[str, type] = {
    "template-variables-path": list,
    "strict": bool,
    "offline": bool,
    "pdf": bool,
    "formats": list,  # extra outputs: docx, jats, latex (manuscript.formats.SUPPORTED)
    "pdf-engine": str,  # weasyprint (default) or typst
}


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
    def github_actions(self) -> bool:
        return self.env.get("GITHUB_ACTIONS") == "true"


def read_config_file(root: Path) -> dict[str, object]:
    """Read ``manuscript.toml``; unknown keys and wrong types are errors naming the file."""
    path = root / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        line = getattr(error, "lineno", None)
        raise ConfigError(f"invalid TOML: {error}", path, line) from None
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

    def pick(explicit: bool | None, key: str, default: bool) -> bool:
        if explicit is not None:
            return explicit
        return bool(file_options.get(key, default))

    paths = [str(p) for p in file_options.get("template-variables-path", [])]  # type: ignore[union-attr]
    paths += list(template_variables_paths)
    return Config(
        root=root,
        template_variables_paths=tuple(dict.fromkeys(paths)),
        strict=pick(strict, "strict", False),
        offline=pick(offline, "offline", env.get("MANUSCRIPT_OFFLINE") == "1"),
        pdf=pick(pdf, "pdf", True),
        **_format_options(root, file_options, formats, pdf_engine),
        verbose=verbose,
        env=MappingProxyType(env),
    )


def _format_options(root: Path, file_options: dict, formats: Sequence[str],
                    pdf_engine: str | None) -> dict:
    """``formats`` (the file's and the command line's, joined) and ``pdf_engine``."""
    from .formats import PDF_ENGINES, check_formats

    where = root / CONFIG_FILE if file_options else None
    try:
        chosen = check_formats([*file_options.get("formats", []), *formats])
    except ConfigError as error:
        raise ConfigError(error.message, where) from None
    engine = pdf_engine or str(file_options.get("pdf-engine", "weasyprint"))
    if engine not in PDF_ENGINES:
        raise ConfigError(f"unknown pdf-engine {engine!r} (known: {', '.join(PDF_ENGINES)})",
                          where)
    return {"formats": chosen, "pdf_engine": engine}
