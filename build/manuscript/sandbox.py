"""Manubot's Jinja2 templating of the sections, in Jinja2's sandbox.

``manubot process`` renders the sections with a plain ``jinja2.Environment``, where
``{{ cycler.__init__.__globals__.os.popen('…').read() }}`` runs a shell command on the
machine that builds (CI, with its tokens). The sandbox refuses attributes starting with
``_`` and the other escape hatches; everything a manuscript legitimately writes
(``{{manubot.authors}}``, loops, filters, ``{% do %}``) renders exactly as before, as
the seed fidelity test checks.

The sandbox bounds ``range()``; we also bound what one operator can build
(``'x' * 10**10``, ``9**9**9``, ``'%09999999999d' % 1``) and the filters whose
argument sets the size of their result, so a template cannot exhaust memory.
"""

from __future__ import annotations

import functools
import logging
import operator
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from .limits import env_limit

MAX_RESULT = 10_000_000  # characters or items one operation may produce
TIMEOUT = 60  # seconds for all the sections' templating; fm-survey's takes 0.01
MAX_EXPONENT_BITS = 4096


class _Environment(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%"})

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        # The default returns an Undefined that renders as "" and fails only when used
        # further: refuse at once, so the author sees it.
        raise SecurityError(f"access to attribute {attribute!r} of "
                            f"{type(obj).__name__!r} object is unsafe")

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        if op == "*":
            for sequence, times in ((left, right), (right, left)):
                if isinstance(sequence, str | list | tuple) and isinstance(times, int):
                    _bound(len(sequence) * times, "'*'")
        elif op == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 0 and abs(left) > 1 and right * max(abs(left).bit_length(), 1) > \
                    MAX_EXPONENT_BITS:
                raise SecurityError("'**' would build a number too large")
        elif op == "%" and isinstance(left, str):
            _bound(len(left) + sum(len(str(v)) for v in _as_tuple(right)) + _widths(left),
                   "'%'")
        return {"*": operator.mul, "**": operator.pow, "%": operator.mod}[op](left, right)


def _as_tuple(value: Any) -> tuple:
    return value if isinstance(value, tuple) else (value,)


def _widths(template: str) -> int:
    """The largest field width or precision written in a %-format (``%0999999d``)."""
    digits, widest = "", 0
    for char in template + " ":
        if char.isdigit():
            digits += char
        else:
            widest = max(widest, int(digits[:12] or 0))
            digits = ""
    return widest


def _bound(size: int, what: str) -> None:
    if size > MAX_RESULT:
        raise SecurityError(f"{what} would build {size:,} characters or items "
                            f"(at most {MAX_RESULT:,})")


def _sized(name: str, size: Callable[..., int], original: Callable) -> Callable:
    @functools.wraps(original)  # also copies jinja_pass_arg (eval context first)
    def checked(*args: Any, **kwargs: Any) -> Any:
        _bound(size(*args, **kwargs), f"filter {name}")
        return original(*args, **kwargs)

    return checked


def _text_len(value: Any) -> int:
    return len(value) if isinstance(value, str) else len(str(value)[:MAX_RESULT + 1])


def _bounded_filters(filters: dict[str, Callable]) -> dict[str, Callable]:
    """The filters whose arguments set the size of their output, with a size check."""
    sizes: dict[str, Callable[..., int]] = {
        "center": lambda value, width=80: max(_text_len(value), int(width)),
        "indent": lambda value, width=4, *a, **k: _text_len(value) * (
            1 + (int(width) if isinstance(width, int) else len(str(width)))),
        "replace": lambda context, value, old, new, count=None: _replace_size(value, old, new),
        "format": lambda value, *args, **kwargs: _text_len(value) + _widths(str(value)) + sum(
            _text_len(v) for v in (*args, *kwargs.values())),
        # Every line of the JSON is indented by indent times its depth: [[[[1]]]] with
        # indent=300000000 was a MemoryError traceback.
        "tojson": lambda context, value, indent=None: _text_len(value) * (
            1 + _width(indent) * _depth(value)),
    }
    return {name: _sized(name, size, filters[name]) for name, size in sizes.items()}


def _width(indent: Any) -> int:
    if indent is None:
        return 0
    return int(indent) if isinstance(indent, int) else len(str(indent)[:MAX_RESULT + 1])


def _depth(value: Any) -> int:
    """How deeply lists and mappings nest in ``value`` (walked without recursion)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list | tuple):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in item)
    return deepest


def _replace_size(value: Any, old: Any, new: Any) -> int:
    text, old, new = str(value), str(old), str(new)
    count = text.count(old) if old else len(text) + 1
    return len(text) + count * max(0, len(new) - len(old))


def environment(autoescape: bool = False) -> jinja2.Environment:
    """``manubot.process.util.template_with_jinja2``'s settings, sandboxed."""
    env = _Environment(
        loader=jinja2.BaseLoader(),
        undefined=jinja2.make_logging_undefined(logging.getLogger()),
        autoescape=autoescape,
        comment_start_string="{##",
        comment_end_string="##}",
        extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
        # As manubot: a trailing newline keeps pyyaml from adding a block chomping
        # indicator to header-includes (https://github.com/jgm/pandoc/issues/8449).
        keep_trailing_newline=True,
    )
    env.filters.update(_bounded_filters(env.filters))
    return env


def template_with_jinja2(text: str, variables: dict) -> str:
    """Drop-in for manubot's function of that name, with a time limit
    (``MANUSCRIPT_TEMPLATE_TIMEOUT`` seconds)."""
    template = environment().from_string(text)
    with _time_limit(env_limit("MANUSCRIPT_TEMPLATE_TIMEOUT", TIMEOUT)):
        return template.render(**variables)


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Stop the template's own code after ``seconds``.

    Loops nest (``range(100000)`` inside ``range(100000)``), and no operator bound
    stops that. A trace function on this thread, active only in frames of template
    code (Jinja2 compiles to Python whose file is ``<template>``), checks the clock on
    each line and raises; other code runs untraced. Threads cannot be interrupted
    otherwise, and ``serve`` builds on a worker thread.
    """
    deadline = time.monotonic() + seconds

    def in_template(frame: FrameType, event: str, arg: Any) -> Callable | None:
        if time.monotonic() > deadline:
            raise SecurityError(f"the template ran longer than {seconds:g} s "
                                "(MANUSCRIPT_TEMPLATE_TIMEOUT)")
        return in_template

    def calls(frame: FrameType, event: str, arg: Any) -> Callable | None:
        return in_template if frame.f_code.co_filename == "<template>" else None

    previous = sys.gettrace()
    sys.settrace(calls)
    try:
        yield
    finally:
        sys.settrace(previous)


def error_line(error: Exception) -> int | None:
    """The template line of an error: syntax errors carry it, runtime errors (a
    refused attribute) only in the frames Jinja2 rewrites to ``<template>``."""
    line = getattr(error, "lineno", None)
    traceback = error.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == "<template>":
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def header_includes(variables: dict) -> str:
    """Manubot's ``<meta>`` tags (its ``get_header_includes``), with every value escaped.

    Manubot escapes the title and names but not ``lang``, ``orcid``, ``twitter`` or the
    URLs, so ``orcid: '"><script>…'`` in metadata.yaml would put a script in
    ``<head>`` (where the page's Content-Security-Policy once trusted every block; it
    now allows only the theme's scripts). Escaping an already escaped value changes
    nothing, so ordinary metadata renders as before.
    """
    from importlib import resources

    template = resources.files("manubot.process").joinpath("header-includes-template.html")
    text = template.read_text(encoding="utf-8-sig")
    return environment(autoescape=True).from_string(text).render(**variables)
