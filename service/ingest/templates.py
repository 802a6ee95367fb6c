"""Rule templates: `{{field}}` and `{{field | filter | filter(argument)}}` over the fields of
a delivery, read by a scanner that looks at each character a bounded number of times.

A template comes from a caller and is read when rules are set and on every delivery, so a
regular expression with nested quantifiers (which backtracks on `{{` and many spaces) would
let one request hold the server for seconds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from service.core.errors import InvalidArgument
from service.ingest import fitting

FILTERS = ("lower", "upper", "truncate", "default")
TRUNCATE_MAX = 100_000
_ECHO = 40  # how much of a bad filter an error repeats


@dataclass(frozen=True)
class Placeholder:
    field: str
    filters: tuple[str, ...]  # each as written between bars, e.g. " truncate(40) "


@dataclass(frozen=True)
class Scanned:
    parts: tuple[str | Placeholder, ...]
    closed: bool  # False: a `{{` with no `}}` (the rest is kept as text)


def scan(template: str) -> Scanned:
    """The template as literal text and placeholders. A placeholder is `{{`, a field name,
    optional `|filter`s and `}}`, none of them holding `}` or a second `{{`."""
    parts: list[str | Placeholder] = []
    done = 0
    while (start := template.find("{{", done)) >= 0:
        end = template.find("}", start + 2)
        body = template[start + 2 : end]
        name, bar, filters = body.partition("|")
        if end < 0 or template[end + 1 : end + 2] != "}" or "{{" in body or not name:
            parts.append(template[done:])
            return Scanned(tuple(parts), closed=False)
        parts.append(template[done:start])
        parts.append(Placeholder(name.strip(), tuple(filters.split("|")) if bar else ()))
        done = end + 2
    parts.append(template[done:])
    return Scanned(tuple(parts), closed=True)


def _filter(part: str) -> tuple[str, str | None] | None:
    """A filter's name and its bracketed argument (None without brackets), or None when it
    is not `name` or `name(argument)`."""
    text = part.strip()
    name, bracket, rest = text.partition("(")
    name = name.strip()
    if name not in FILTERS:
        return None
    if not bracket:
        return name, None
    if not rest.endswith(")") or ")" in rest[:-1]:
        return None
    return name, rest[:-1].strip()


def check(where: str, value: object) -> None:
    if not isinstance(value, str):
        raise InvalidArgument(where, "must be text")
    scanned = scan(value)
    for part in scanned.parts:
        if isinstance(part, Placeholder):
            for written in part.filters:
                _check_filter(where, written)
    if not scanned.closed:
        raise InvalidArgument(where, "has an unclosed {{ placeholder")


def _check_filter(where: str, written: str) -> None:
    shown = written.strip()[:_ECHO]
    found = _filter(written)
    if found is None:
        raise InvalidArgument(where, f"unknown filter {shown!r}")
    name, argument = found
    if name == "truncate" and _count(argument) is None:
        raise InvalidArgument(
            where,
            f"truncate takes a number of characters from 1 to {TRUNCATE_MAX:,}, "
            f"e.g. truncate(40) (got {shown!r})",
        )
    if name in ("lower", "upper") and argument is not None:
        raise InvalidArgument(where, f"{name} takes nothing in brackets (got {shown!r})")


def _count(argument: str | None) -> int | None:
    # ASCII digits only (str.isdigit takes ² too), and few enough that int() reads them fast.
    if not argument or len(argument) > 6 or not (argument.isascii() and argument.isdigit()):
        return None
    count = int(argument)
    return count if 1 <= count <= TRUNCATE_MAX else None


def render(template: str, fields: Mapping[str, str]) -> str:
    out: list[str] = []
    for part in scan(template).parts:
        if isinstance(part, str):
            out.append(part)
            continue
        value = fields.get(part.field, "")
        for written in part.filters:
            value = _apply(value, written)
        out.append(value)
    return "".join(out)


def _apply(value: str, written: str) -> str:
    found = _filter(written)
    if found is None:  # checked when the rule was set
        return value
    name, argument = found
    if name == "lower":
        return value.lower()
    if name == "upper":
        return value.upper()
    if name == "truncate":
        # Checked when set; a rule stored before that check keeps the whole value.
        limit = _count(argument) or len(value)
        return fitting.shorten(value, max(limit, 1))
    return value or argument or ""  # default
