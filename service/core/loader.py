"""YAML and JSON that callers send (integration rules, routing conditions, `apply` files),
read in time and memory bounded by the text's length.

PyYAML alone would expand an alias as often as it is named (a few hundred bytes of anchors
become gigabytes) and recurses once per nesting level (a few thousand `[` exhaust the stack).
So anchors and aliases are refused, nesting is capped, and both are checked on libyaml's
event stream, which is flat, before anything is built. JSON has no aliases; its nesting is
capped the same way.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import yaml

from service.core.errors import InvalidArgument

DEPTH_MAX = 64

# libyaml when PyYAML was built with it (the wheels are); the pure-Python parser otherwise.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


NUMBER_DIGITS_MAX = 100


def _refuse(loader: Any, node: yaml.Node) -> None:
    raise yaml.constructor.ConstructorError(
        None, None, f"{node.tag} values are not accepted here", node.start_mark
    )


def _integer(loader: Any, node: yaml.ScalarNode) -> Any:
    # Python refuses to read integers of more than 4,300 digits with a ValueError; no
    # setting of Tocsin's needs more than a few.
    if len(str(node.value)) > NUMBER_DIGITS_MAX:
        raise yaml.constructor.ConstructorError(
            None, None, f"a number has more than {NUMBER_DIGITS_MAX} digits", node.start_mark
        )
    return yaml.SafeLoader.construct_yaml_int(loader, node)


class _Loader(_SafeLoader):  # type: ignore[misc]
    pass


class _PlainLoader(_Loader):
    """Builds only what JSON can hold: a timestamp stays the text it was written as."""


_Loader.add_constructor("tag:yaml.org,2002:int", _integer)
_PlainLoader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)
for _tag in ("binary", "set", "omap", "pairs"):
    _PlainLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse)


def yaml_document(field: str, text: str, *, plain: bool = False) -> Any:
    """The one document in `text`; None when it is empty. `plain`: only JSON's types (as
    stored rules need), else also dates and times as PyYAML builds them."""
    try:
        _check_events(field, text)
        return yaml.load(text, Loader=_PlainLoader if plain else _Loader)
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):
            # libyaml's own cap (1,000 levels), met while it scans ahead of the events.
            raise InvalidArgument(field, f"must not nest deeper than {DEPTH_MAX} levels") from None
        raise InvalidArgument(field, f"not valid YAML: {_problem(exc)}") from None
    except ValueError as exc:  # a date that does not exist, such as 2026-13-45
        raise InvalidArgument(field, f"not valid YAML: {exc}") from None


def _check_events(field: str, text: str) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=_SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise InvalidArgument(
                field,
                f"must not use YAML anchors or aliases (&name, *name) ({_where(event)}): "
                "write each value out",
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > DEPTH_MAX:
                raise InvalidArgument(
                    field, f"must not nest deeper than {DEPTH_MAX} levels ({_where(event)})"
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def json_document(field: str, text: str) -> Any:
    """The JSON value in `text`."""
    too_deep = InvalidArgument(field, f"must not nest deeper than {DEPTH_MAX} levels")
    try:
        value = json.loads(
            text,
            parse_int=functools.partial(_json_integer, field),
            parse_float=functools.partial(_json_float, field),
            parse_constant=functools.partial(_json_constant, field),
        )
    except json.JSONDecodeError as exc:
        raise InvalidArgument(field, f"is not JSON: {exc.msg} at character {exc.pos}") from None
    except RecursionError:
        # The decoder recurses once per level and says so this way; it unwinds cleanly.
        raise too_deep from None
    if depth(value) > DEPTH_MAX:
        raise too_deep
    return value


def _json_float(field: str, digits: str) -> float:
    # 1e99999 reads as infinity, which JSON cannot write back: refused, as NaN is.
    value = float(digits)
    if math.isinf(value):
        raise InvalidArgument(field, f"must not hold a number too large for a float ({digits})")
    return value


def _json_constant(field: str, name: str) -> float:
    raise InvalidArgument(field, f"is not JSON: {name} is not a JSON value")


def _json_integer(field: str, digits: str) -> int:
    if len(digits) > NUMBER_DIGITS_MAX:
        raise InvalidArgument(
            field, f"must not hold a number of more than {NUMBER_DIGITS_MAX} digits"
        )
    return int(digits)


def depth(value: object) -> int:
    """How many lists and mappings deep `value` nests, counted without recursion."""
    deepest = 0
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level + 1)
        pending.extend((child, level + 1) for child in children)
    return deepest


def _where(event: yaml.Event) -> str:
    mark = event.start_mark
    return "" if mark is None else f"line {mark.line + 1}, column {mark.column + 1}"


def _problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    if isinstance(exc, yaml.MarkedYAMLError) and mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    return " ".join(str(exc).split())
