"""What one object of the manifest needs: the lines that show the change, and the calls to
the server that make it. Planning is pure: the calls are made only when the plan is applied."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from clients.client import TocsinClient
from service.core.errors import InvalidArgument

T = TypeVar("T")

Call = Callable[[TocsinClient], Awaitable[object]]


@dataclass(frozen=True)
class PlannedCall:
    """One call to the server, and the place in the file it carries out (for errors)."""

    path: str
    call: Call
    # The file's name for a field of the request the server refuses, when they differ.
    field_path: Callable[[str], str] | None = None
    # Its result is shown as soon as it comes: a new integration's URL and key exist only then.
    shown: bool = False


@dataclass(frozen=True)
class PlannedChange:
    """What one object needs: the lines that show it, and the calls that make it so."""

    lines: tuple[str, ...]
    steps: tuple[PlannedCall, ...]


def known(names: Mapping[str, str], name: str, path: str, what: str) -> str:
    """`name` as the server (or else the file) spells it; refused when neither has it."""
    found = names.get(name.lower())
    if found is None:
        raise InvalidArgument(path, f"no {what} named {name!r} on the server or in the file")
    return found


def show(text: str) -> str:
    """A value in a change line: quoted only when it would otherwise be hard to read."""
    plain = text and text == text.strip() and not any(c in text for c in " ,'\"")
    return text if plain else repr(text)


def value_lines(values: Iterable[tuple[str, str, str]]) -> list[str]:
    """`key old -> new` for each (key, old, new) that differs."""
    return [f"{key} {show(old)} -> {show(new)}" for key, old, new in values if old != new]


def field_lines(where: str, before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """`where.key old -> new` for each field, shown as text, that differs."""
    return [
        f"{where}.{key} {before[key]} -> {after[key]}"
        for key in before
        if before[key] != after[key]
    ]


def item_lines(
    key: str,
    before: Sequence[T],
    after: Sequence[T],
    fields: Callable[[T], Mapping[str, str]],
    text: Callable[[T], str],
) -> list[str]:
    """A list that changes by position: the fields that differ at each index both lists
    have, then the items added at the end, then those gone from it."""
    lines: list[str] = []
    for i, (old, new) in enumerate(zip(before, after, strict=False)):
        lines.extend(field_lines(f"{key}[{i}]", fields(old), fields(new)))
    for i, item in enumerate(after[len(before) :], len(before)):
        lines.append(f"+ {key}[{i}] {text(item)}")
    for i, item in enumerate(before[len(after) :], len(after)):
        lines.append(f"- {key}[{i}] {text(item)}")
    return lines
