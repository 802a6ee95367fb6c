"""The one reader of YAML and JSON from callers: bounded whatever the text holds."""

from __future__ import annotations

import pytest

from service.core import loader
from service.core.errors import InvalidArgument


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[" * 2_000, "must not nest deeper than 64 levels"),
        ('{"a": ' * 65 + "1" + "}" * 65, "must not nest deeper than 64 levels"),
        ("9" * 101, "more than 100 digits"),
        ("1e99999", "too large for a float (1e99999)"),
        ("-1e99999", "too large for a float (-1e99999)"),
        ("[NaN]", "NaN is not a JSON value"),
        ("Infinity", "Infinity is not a JSON value"),
        ("{", "is not JSON: Expecting property name"),
    ],
)
def test_json_that_cannot_be_held_or_written_back_is_refused(text: str, words: str) -> None:
    with pytest.raises(InvalidArgument, match="^when_json: ") as caught:
        loader.json_document("when_json", text)
    assert words in caught.value.rule


def test_json_within_the_limits_reads_as_json() -> None:
    text = '{"a": [1, 2.5, "x", null, true]}'
    assert loader.json_document("f", text) == {"a": [1, 2.5, "x", None, True]}
    assert loader.json_document("f", "[" * 64 + "]" * 64) is not None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a: &x [1]\nb: *x\n", "must not use YAML anchors or aliases"),
        ("a: " + "[" * 65 + "]" * 65 + "\n", "must not nest deeper than 64 levels"),
        ("a: " + "[" * 3_000 + "\n", "must not nest deeper than 64 levels"),
        ("a: " + "9" * 101 + "\n", "more than 100 digits"),
        ("a: !!python/object:os.system x\n", "not valid YAML"),
        ("a: [unclosed\n", "not valid YAML"),
    ],
)
def test_yaml_that_could_grow_or_recurse_is_refused(text: str, words: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        loader.yaml_document("rules_yaml", text)
    assert caught.value.field == "rules_yaml" and words in caught.value.rule


def test_plain_yaml_keeps_dates_as_written() -> None:
    assert loader.yaml_document("f", "when: 2026-12-03\n", plain=True) == {"when": "2026-12-03"}
    assert loader.yaml_document("f", "") is None
