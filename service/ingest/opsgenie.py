"""Opsgenie's Alert API requests read as actions: pure.

The HTTP edge hands over each request as an envelope: the `action` its path names (`create`,
`close`, `acknowledge`, `unacknowledge` or `notes`), the `identifier` and `identifierType`
(`id`, Opsgenie's default, `tiny` or `alias`) of the alert it acts on, and the request's `body`
as sent. A create opens (or counts into) the open alert whose alias is the body's `alias`; the
others act on the open alert the identifier names.

Opsgenie is lenient and so is this: over-long fields are cut to Opsgenie's limits, and the cut
is said in the note the action leaves in the alert's log. What Opsgenie refuses is refused, each
field at fault named as `<field>: <message>` (the edge answers those 422); a body that does not
parse is named without a field (answered 400).
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass

from service.alerts.model import AlertRef, NewAlert, Priority, RefKind
from service.core import validation
from service.ingest import events, fitting
from service.ingest.model import ActionKind, IngestAction

BODY_MAX = 256 * 1024
# Opsgenie's own limits; the alert's are the same (`service.core.validation`).
LIMITS: Mapping[str, int] = {
    "message": validation.MESSAGE_MAX,
    "alias": validation.ALIAS_MAX,
    "description": validation.DESCRIPTION_MAX,
    "entity": validation.ENTITY_MAX,
    "source": validation.SOURCE_MAX,
    "user": validation.USER_MAX,
    "note": validation.NOTE_MAX,
}
PRIORITIES = tuple(priority.name for priority in Priority)
MESSAGE_EMPTY = "Message can not be empty."
UNPARSED = "Could not parse request body"


class RequestAction(enum.StrEnum):
    CREATE = "create"
    CLOSE = "close"
    ACKNOWLEDGE = "acknowledge"
    NOTES = "notes"
    UNACKNOWLEDGE = "unacknowledge"


_KINDS = {
    RequestAction.CREATE: ActionKind.CREATE,
    RequestAction.CLOSE: ActionKind.CLOSE,
    RequestAction.ACKNOWLEDGE: ActionKind.ACKNOWLEDGE,
    RequestAction.NOTES: ActionKind.ADD_NOTE,
    RequestAction.UNACKNOWLEDGE: ActionKind.UNACKNOWLEDGE,
}
# Opsgenie's names of the actions, and the status a request that found its alert reports.
NAMES = {
    RequestAction.CREATE: ("Create", "Created alert"),
    RequestAction.CLOSE: ("Close", "Closed alert"),
    RequestAction.ACKNOWLEDGE: ("Acknowledge", "Acknowledged alert"),
    RequestAction.UNACKNOWLEDGE: ("UnAcknowledge", "Unacknowledged alert"),
    RequestAction.NOTES: ("AddNote", "Added note"),
}
# How a request names its alert (Opsgenie's default is its id).
IDENTIFIER_TYPES = {"id": RefKind.ID, "tiny": RefKind.TINY_ID, "alias": RefKind.ALIAS}


@dataclass(frozen=True)
class Request:
    """A request that reads: what it does by default (before the integration's rules) and
    the alias it names its alert by."""

    alias: str
    action: IngestAction
    request_id: str = ""
    name: str = ""  # Opsgenie's name of the action: "Create", "Close", ...


def envelope(
    action: str, body: str, identifier: str = "", identifier_type: str = "id", request_id: str = ""
) -> bytes:
    """The envelope `read` takes: a request's action, the alert it names and its body as
    sent. Kept in UTF-8: escaped to ASCII, a body well under its limit could triple and
    outgrow the envelope's."""
    outer = {
        "action": action,
        "identifier": identifier,
        "identifierType": identifier_type,
        "requestId": request_id,
        "body": body or "{}",
    }
    return json.dumps(outer, ensure_ascii=False).encode()


def read(envelope: bytes) -> Request:
    """The request in `envelope`; raises `events.InvalidEventError`."""
    outer = events.document(envelope, BODY_MAX * 2)
    action = _request_action(outer.get("action"))
    raw = outer.get("body")
    try:
        body = events.document(raw.encode() if isinstance(raw, str) else b"", BODY_MAX)
    except events.InvalidEventError as exc:
        raise events.InvalidEventError([f"{UNPARSED} ({'; '.join(exc.errors)})"]) from None
    errors: dict[str, str] = {}
    given = outer.get("requestId")
    request_id, name = (given if isinstance(given, str) else ""), NAMES[action][0]
    if action is RequestAction.CREATE:
        return dataclasses.replace(_created(body, errors), request_id=request_id, name=name)
    ref = _ref(outer.get("identifier"), outer.get("identifierType") or "id", errors)
    texts, cuts = _texts(body, ("user", "source", "note"), errors)
    _raise(errors)
    alias = ref.value if ref.kind is RefKind.ALIAS else ""
    note = _note(texts, cuts)
    alert = NewAlert(message="", alias=alias)
    by = None if ref.kind is RefKind.ALIAS else ref
    taken = IngestAction(alert, kind=_KINDS[action], note=note, ref=by)
    return Request(alias, taken, request_id, name)


def status(name: str, found: bool, deduplicated: bool) -> tuple[bool, str]:
    """Whether a request of Opsgenie's action `name` succeeded, and its status, given
    whether it found (or made) its alert and whether a create counted into an open one."""
    done = next(text for kind, text in NAMES.values() if kind == name)
    if name == NAMES[RequestAction.CREATE][0]:
        if not found:
            return True, "Ignored by the integration's rules"
        return True, "Alert already exists; count increased" if deduplicated else done
    return (True, done) if found else (False, "Alert does not exist")


def _ref(identifier: object, kind: object, errors: dict[str, str]) -> AlertRef:
    """The alert a request other than create names; an empty ref when it names none."""
    ref_kind = IDENTIFIER_TYPES.get(kind if isinstance(kind, str) else "")
    if ref_kind is None:
        errors["identifierType"] = "Identifier type should be one of [id, alias, tiny]."
    if not isinstance(identifier, str) or not identifier.strip():
        errors["identifier"] = "Identifier can not be empty."
        return AlertRef(RefKind.ALIAS, "")
    if ref_kind is RefKind.TINY_ID and not identifier.isdigit():
        errors["identifier"] = "A tiny id is a number."
    value = fitting.shorten(identifier, validation.ALIAS_MAX)
    return AlertRef(ref_kind or RefKind.ALIAS, value)


def _request_action(value: object) -> RequestAction:
    try:
        return RequestAction(value if isinstance(value, str) else "")
    except ValueError:
        raise events.InvalidEventError([f"{UNPARSED} (unknown action {value!r})"]) from None


def _created(body: Mapping[str, object], errors: dict[str, str]) -> Request:
    fields = ("message", "alias", "description", "entity", "source", "user", "note")
    texts, cuts = _texts(body, fields, errors)
    if "message" not in errors and not texts["message"].strip():
        errors["message"] = MESSAGE_EMPTY
    priority = body.get("priority") or "P3"  # empty, as some senders send it: the default
    if priority not in PRIORITIES:
        errors["priority"] = f"Priority should be one of {list(PRIORITIES)}."
    tags = _strings(body, "tags", errors)
    actions = _strings(body, "actions", errors)
    details = body.get("details")
    details = {} if details is None else details
    if not isinstance(details, dict):
        errors["details"] = "Details should be a map of strings."
        details = {}
    _raise(errors)
    if len(tags) > validation.TAGS_MAX or any(len(t) > validation.TAG_MAX for t in tags):
        cuts.append(f"tags (at most {validation.TAGS_MAX} of {validation.TAG_MAX} characters)")
    # Who asked and whom Opsgenie would notify are recorded as details: Tocsin's own
    # escalation policy, not the sender, decides who is paged.
    extra = {key: body[key] for key in ("user", "responders", "visibleTo") if body.get(key)}
    given = {**{str(key): value for key, value in details.items()}, **extra}
    fitted = fitting.fit_details(given)
    if any(key not in fitted for key, value in given.items() if value not in (None, "")) or any(
        len(fitted[key]) < len(value)
        for key, value in given.items()
        if isinstance(value, str) and key in fitted
    ):
        cuts.append(f"details (at most {validation.DETAILS_TOTAL_MAX} characters in all)")
    alert = fitting.fitted(
        NewAlert(
            message=texts["message"],
            alias=texts["alias"],
            description=texts["description"],
            tags=tags,
            details=fitted,
            entity=texts["entity"],
            source=texts["source"],
            priority=Priority[str(priority)],
            actions=tuple(a[: validation.ACTION_MAX] for a in actions[: validation.ACTIONS_MAX]),
        )
    )
    return Request(alert.alias, IngestAction(alert, note=_note(texts, cuts)))


def _texts(
    body: Mapping[str, object], fields: tuple[str, ...], errors: dict[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Each text field (empty when absent), cut to its limit; and what was cut."""
    texts: dict[str, str] = {}
    cuts: list[str] = []
    for name in fields:
        value = body.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[name] = f"{name.capitalize()} should be a string."
            value = ""
        if len(value) > LIMITS[name]:
            cuts.append(f"{name} (at most {LIMITS[name]:,} characters)")
            value = value[: LIMITS[name]]
        texts[name] = value
    return texts, cuts


def _strings(body: Mapping[str, object], name: str, errors: dict[str, str]) -> tuple[str, ...]:
    value = body.get(name)
    value = [] if value is None else value
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        errors[name] = f"{name.capitalize()} should be a list of strings."
        return ()
    return tuple(value)


def _note(texts: Mapping[str, str], cuts: list[str]) -> str:
    """The note the action leaves: the sender's, who sent it, and what was cut."""
    parts = [texts.get("note", "")]
    if texts.get("user"):
        parts.append(f"(by {texts['user']})")
    if cuts:
        parts.append(f"Cut to Opsgenie's limits: {', '.join(cuts)}.")
    return fitting.shorten(" ".join(part for part in parts if part), validation.NOTE_MAX)


def _raise(errors: Mapping[str, str]) -> None:
    if errors:
        raise events.InvalidEventError([f"{key}: {value}" for key, value in errors.items()])
