"""The small HTML pages an acknowledge link opens: the question, the result, a refusal. Pure.

Opening a link only asks; the button posts back to the same URL. Mail scanners and link
previews fetch every URL in a message, so a GET that acknowledged would acknowledge alerts
nobody has seen.
"""

from __future__ import annotations

import html

from service.answers.usecases import LinkAlert

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32em;margin:3em auto;padding:0 1em;"
    "line-height:1.5;color:#222}button{font-size:1.1em;padding:.6em 1.4em;background:#c0392b;"
    "color:#fff;border:0;border-radius:4px;cursor:pointer}.quiet{color:#777}"
)


def confirmation(link: LinkAlert) -> str:
    """What the link would do, and the button that does it (none when nothing is left)."""
    title = f"Acknowledge alert #{link.tiny_id}?"
    parts = [f"<h1>{_e(title)}</h1>", f"<p><strong>{_e(link.message)}</strong></p>"]
    if link.closed:
        parts.append("<p>This alert is closed: there is nothing left to acknowledge.</p>")
    elif link.acknowledged_by:
        parts.append(f"<p>{_e(link.acknowledged_by)} has acknowledged it already.</p>")
    else:
        parts += [
            f"<p>You will acknowledge it as <strong>{_e(link.username)}</strong>; "
            "pages still due about it will not be sent.</p>",
            # No action: the form posts to this very URL, whatever proxy is in front.
            "<form method='post'><button type='submit'>Acknowledge</button></form>",
        ]
    return _page(title, parts)


def result(link: LinkAlert) -> str:
    if link.done:
        title = f"Acknowledged alert #{link.tiny_id}"
        said = f"Acknowledged as {link.username}; pages still due about it are cancelled."
    else:
        title = f"Alert #{link.tiny_id} was already acknowledged"
        said = f"{link.acknowledged_by or 'Someone'} acknowledged it before this link was used."
    return _page(
        title, [f"<h1>{_e(title)}</h1>", f"<p>{_e(link.message)}</p>", f"<p>{_e(said)}</p>"]
    )


def refusal(title: str, reason: str) -> str:
    return _page(title, [f"<h1>{_e(title)}</h1>", f"<p>{_e(_sentence(reason))}</p>"])


def _page(title: str, parts: list[str]) -> str:
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<meta name='robots' content='noindex'><title>{_e(title)} - Tocsin</title>"
        f"<style>{_STYLE}</style></head><body>"
        + "".join(parts)
        + "<p class='quiet'>Tocsin</p></body></html>\n"
    )


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")) if text else text


def _e(text: str) -> str:
    return html.escape(text, quote=True)
