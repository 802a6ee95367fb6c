"""Applying a plan: its calls, one at a time and in order, with a refusal reported at the
place in the file it came from."""

from __future__ import annotations

from collections.abc import Callable

from clients.client import TocsinClient
from clients.manifest.plan import Plan
from clients.manifest.schema import ManifestError
from service.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound


async def apply(
    client: TocsinClient, plan: Plan, show: Callable[[object], None] | None = None
) -> None:
    """Makes the plan's changes, in order, passing what a step shows to `show` at once. A
    refusal is reported with the path in the file of what was refused; the changes before it
    stay made, and re-applying finishes."""
    made = 0
    for change in plan.changes:
        for step in change.steps:
            try:
                result = await step.call(client)
            except (InvalidArgument, NotFound, AlreadyExists, FailedPrecondition) as exc:
                path, problem = step.path, str(exc)
                if isinstance(exc, InvalidArgument) and exc.field != "request":
                    where = step.field_path(exc.field) if step.field_path else exc.field
                    path, problem = f"{path}.{where}", exc.rule
                if made:
                    problem += " (the changes before it were made; fix this and apply again)"
                raise ManifestError(plan.file, path, problem) from None
            made += 1
            if step.shown and show is not None:
                show(result)
