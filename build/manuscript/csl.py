"""CSL items made valid against the CSL JSON schema before pandoc sees them.

pandoc refuses a whole bibliography over one field of the wrong shape (a raw Crossref
record's ``short-title: []`` stops the build with "expected String or Number, but
encountered Array"). Manubot avoids this by pruning every item against the CSL JSON
schema (``CSL_Item.clean(prune=True)``), but downloads the schema at run time and logs
what it drops on the root logger. We do the same against the schema shipped in
``data/csl-schema`` (v1.0.2, MIT), and first fix what has one obvious meaning:

* a one-element list where a string or number belongs → that element (Crossref's
  ``"container-title": ["Nature"]``, a title given as a list of one);
* empty values (``[]``, ``{}``, ``null``, ``""``) → dropped;
* a date written as ``YYYY[-MM[-DD]]`` (or read as a date from YAML) →
  ``{"date-parts": [[Y, M, D]]}``.

Whatever is still invalid is removed, with one debug line per field, and one warning
per item that loses something a reference list shows.
"""

from __future__ import annotations

import copy
import datetime
import functools
import json
import logging
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any

from manubot.cite.csl_item import CSL_Item

if TYPE_CHECKING:
    import jsonschema

logger = logging.getLogger(__name__)

# What a formatted reference shows: losing one of these is worth a warning.
SHOWN_FIELDS = ("title", "author", "editor", "container-title", "issued", "DOI", "URL",
                "page", "volume", "issue", "publisher", "collection-title", "edition")

_EMPTY: tuple[Any, ...] = (None, "", [], {})
_DATE = re.compile(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?")


@functools.cache
def schema() -> dict:
    text = resources.files("manuscript").joinpath("data/csl-schema/csl-data.json").read_text(
        encoding="utf-8")
    return json.loads(text)


@functools.cache
def validator() -> jsonschema.protocols.Validator:
    """jsonschema's validator, which says what is wrong; imported when first needed
    (0.12 s: most builds' items are all valid, which jsonschema-rs says alone)."""
    import jsonschema

    cls = jsonschema.validators.validator_for(schema())
    cls.check_schema(schema())
    return cls(schema())


@functools.cache
def _fast_validator() -> Any:
    """The same schema in jsonschema-rs (Rust): it says whether an item is valid in
    ~3 µs, where jsonschema takes ~1 ms (600 references: 2 ms instead of 0.1-0.8 s). It
    only answers yes or no; an invalid item, rare, is then explained by jsonschema."""
    import jsonschema_rs  # here: only a build with references needs it

    return jsonschema_rs.validator_for(schema())


def _is_valid(item: dict) -> bool:
    try:
        return _fast_validator().is_valid([item])
    except ValueError:  # a value JSON has no type for (a date read from YAML): invalid,
        return False    # and jsonschema says where


@functools.cache
def _item_properties() -> dict[str, dict]:
    return schema()["items"]["properties"]


class InvalidItem(ValueError):
    """An item that cannot be made valid: not an object, or no usable ``id``."""


@dataclass
class Normalized:
    item: dict
    dropped: list[str] = field(default_factory=list)  # JSON paths removed, "author/0/ORCID"
    lost: list[str] = field(default_factory=list)  # shown fields lost entirely or in part


def normalize(item: object, describe: str = "") -> Normalized:
    """A valid copy of ``item``: fixed where unambiguous, pruned of the rest.

    ``describe`` names the item in debug lines ("content/manual-references.json item 3").
    Raises InvalidItem when the item is not an object or has no ``id``.
    """
    if not isinstance(item, dict):
        raise InvalidItem("is not a CSL item (an object)")
    original = item
    item = copy.deepcopy(item)
    emptied = _fix_shapes(item)
    if item.get("id") in _EMPTY or not isinstance(item.get("id"), str | int | float):
        raise InvalidItem("has no usable id")
    # An id may be a number in CSL JSON; manubot's citation keys take only text (id: 5
    # was a TypeError traceback). A type that is not text (a mapping) is no type.
    item["id"] = str(item["id"])
    kind = item.get("type")
    kind = kind if isinstance(kind, str) else "entry"
    item["type"] = CSL_Item.type_mapping.get(kind, kind)
    dropped = emptied + _prune(item)
    for path in dropped:
        logger.debug("%s: dropped CSL field %s (not valid CSL JSON)", describe or item["id"], path)
    return Normalized(item, dropped, _lost_fields(original, item))


def _fix_shapes(item: dict) -> list[str]:
    """Fix in place what has one meaning; return the empty fields dropped."""
    properties = _item_properties()
    emptied = []
    for key in list(item):
        value = item[key]
        if value in _EMPTY:
            del item[key]
            emptied.append(key)
            continue
        schema = properties.get(key, {})
        types = schema.get("type")
        types = {types} if isinstance(types, str) else set(types or ())
        if types and types <= {"string", "number"} and isinstance(value, list) and len(value) == 1:
            if isinstance(value[0], str | int | float) and not isinstance(value[0], bool):
                item[key] = value[0]
        elif schema.get("$ref") == "#/definitions/date-variable":
            if isinstance(value, datetime.date):  # YAML reads an unquoted 2001-05-01 so
                item[key] = {"date-parts": [[value.year, value.month, value.day]]}
            elif isinstance(value, str) and (match := _DATE.fullmatch(value.strip())):
                item[key] = {"date-parts": [[int(p) for p in match.groups() if p]]}
    return emptied


def _prune(item: dict) -> list[str]:
    """Remove what fails the schema, as manubot's remove_jsonschema_errors does.

    Ours (rather than calling manubot's) to use the shipped schema instead of a download,
    and to report each removed path. A few passes: removing an element can expose others.
    """
    dropped: list[str] = []
    for _ in range(6):
        errors = _errors(item)
        if not errors:
            break
        for path in sorted(set(errors), key=lambda p: [str(x).zfill(8) for x in p],
                           reverse=True):
            if _delete(item, path):
                dropped.append("/".join(map(str, path)))
        item.setdefault("type", "entry")  # required: CSL_Item.set_default_type's choice
    else:  # six passes and still errors (a valid item, the usual case, is checked once)
        if _errors(item):
            raise InvalidItem("cannot be made valid CSL JSON")
    return dropped + _numeric_date_parts(item) + _drop_emptied(item)


def _numeric_date_parts(item: dict) -> list[str]:
    """The schema allows any string in date-parts; pandoc reads only numbers ("2019" too)."""
    dropped = []
    for key, value in item.items():
        parts = value.get("date-parts") if isinstance(value, dict) else None
        if not isinstance(parts, list):
            continue
        kept = []
        for index, row in enumerate(parts):
            if all(isinstance(p, int | float) or (isinstance(p, str) and p.strip().isdigit())
                   for p in row):
                kept.append([int(p) for p in row])
            else:
                dropped.append(f"{key}/date-parts/{index}")
        if kept:
            value["date-parts"] = kept
        else:
            del value["date-parts"]
    return dropped


def _drop_emptied(item: dict) -> list[str]:
    """Pruning can leave husks (an author ``{}``, a date ``{}``) pandoc would print as blanks."""
    dropped = []
    for key in list(item):
        value = item[key]
        if isinstance(value, list) and any(v in _EMPTY for v in value):
            dropped += [f"{key}/{i}" for i, v in enumerate(value) if v in _EMPTY]
            item[key] = value = [v for v in value if v not in _EMPTY]
        if value in _EMPTY or (isinstance(value, dict)
                               and _item_properties().get(key, {}).get("$ref", "").endswith(
                                   "date-variable")
                               and not value.keys() & {"date-parts", "literal", "raw"}):
            del item[key]
            dropped.append(key)
    return dropped


def _errors(item: dict) -> list[tuple]:
    """Paths (inside the item) to remove so that it validates.

    A name list can hold thousands of names (a physics collaboration), and jsonschema
    checks each against an ``anyOf`` slowly; a name that plainly fits the schema's own
    name-variable definition is left out of the check, and the paths mapped back.
    """
    if _is_valid(item):
        return []  # the usual case
    probe = dict(item)
    positions: dict[str, list[int]] = {}
    for key, value in item.items():
        if _is_name_list(key) and isinstance(value, list):
            positions[key] = [i for i, name in enumerate(value) if not _plain_name(name)]
            probe[key] = [value[i] for i in positions[key]]
    paths = []
    for error in validator().iter_errors([probe]):
        for path in _paths_to_remove(error, ()):
            if not path or path[0] != 0 or len(path) < 2:
                continue
            path = path[1:]
            if path[0] in positions and len(path) > 1:
                path = (path[0], positions[path[0]][path[1]], *path[2:])
            paths.append(path)
    return paths


def _is_name_list(key: str) -> bool:
    return _item_properties().get(key, {}).get("items", {}).get("$ref", "").endswith(
        "name-variable")


@functools.cache
def _name_fields() -> dict[str, tuple[type, ...]]:
    """The name-variable properties and the Python types their JSON types allow."""
    (name,) = schema()["definitions"]["name-variable"]["anyOf"]
    python = {"string": (str,), "number": (int, float), "boolean": (bool,)}
    fields = {}
    for key, rule in name["properties"].items():
        kinds = [rule["type"]] if isinstance(rule["type"], str) else rule["type"]
        fields[key] = tuple(t for kind in kinds for t in python[kind])
    return fields


def _plain_name(name: object) -> bool:
    fields = _name_fields()
    return isinstance(name, dict) and all(
        key in fields and isinstance(value, fields[key])
        and (bool in fields[key] or not isinstance(value, bool))
        for key, value in name.items())


def _paths_to_remove(error: jsonschema.ValidationError, base: tuple) -> list[tuple]:
    path = base + tuple(error.path)
    if error.context:  # anyOf: fix the item against its alternatives' complaints
        seen_additional = False
        paths: list[tuple] = []
        for sub in error.context:
            if sub.validator == "additionalProperties":
                if seen_additional:
                    continue
                seen_additional = True
            paths.extend(_paths_to_remove(sub, path))
        return paths
    if error.validator == "additionalProperties":
        extras = set(error.instance) - set(error.schema.get("properties", {}))
        return [(*path, key) for key in extras]
    if error.validator == "required":
        return []  # the id was checked before; type is defaulted
    return [path]


def _delete(item: dict, path: tuple) -> bool:
    *head, tail = path
    container: Any = item
    try:
        for key in head:
            container = container[key]
        del container[tail]
    except (KeyError, IndexError, TypeError):
        return False
    return True


def _lost_fields(before: dict, after: dict) -> list[str]:
    return [key for key in SHOWN_FIELDS
            if before.get(key) not in _EMPTY and _degraded(before[key], after.get(key))]


def _degraded(before: object, after: object) -> bool:
    """Gone, fewer names than before, or a date with nothing left to print."""
    if after in _EMPTY:
        return True
    if isinstance(after, list) and isinstance(before, list):  # an empty name was nothing
        return len(after) < len([name for name in before if name not in _EMPTY])
    if isinstance(after, dict):
        return not after.keys() & {"date-parts", "literal", "raw"}
    return False
