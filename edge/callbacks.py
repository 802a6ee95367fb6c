"""The HTTP routes by which answers to pages come back: acknowledge links, and Twilio's
webhooks for SMS replies and keys pressed on a call.

- `GET /v1/links/{token}`: a confirmation page; it changes nothing.
- `POST /v1/links/{token}`: acknowledges, once; a small result page.
- `POST /v1/twilio/sms`: Twilio's incoming-message webhook; answers TwiML `<Message>`.
- `POST /v1/twilio/voice?alert=..&key=..`: a voice page's gather action; answers TwiML.

A request whose `MessageSid` (or, once a key has acted, `CallSid`) was answered before gets
that first answer again and changes nothing: a signed request replayed acts once.

Twilio's requests must carry a valid `X-Twilio-Signature` (an HMAC with the account's auth
token over the URL Twilio called and the form fields), else 403. Behind a proxy the URL this
server sees is not the one Twilio called, so it is rebuilt from the public base URL and the
request's path and query as sent. Without Twilio configured, its routes answer 404.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aiohttp import web
from multidict import MultiMapping
from prometheus_client import CollectorRegistry, Counter
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from adapters.twilio.settings import TwilioSettings
from adapters.twilio.voice import VOICE_PATH, action_url, voice_twiml
from edge import link_pages
from edge.answers import AnswersPort
from service.answers.links import LINK_PATH
from service.answers.usecases import VoiceAnswer, VoiceOutcome
from service.core.errors import FailedPrecondition, NotFound, PermissionDenied, TocsinError
from service.paging.notifier import Notification
from service.people.model import Channel

log = logging.getLogger(__name__)

SMS_PATH = "/v1/twilio/sms"
SIGNATURE_HEADER = "X-Twilio-Signature"
# Present when Twilio signed with a SharedKey rather than the auth token (its Webhooks
# configuration API); this edge holds no SharedKey, so such a signature cannot be checked.
SHARED_KEY_HEADER = "X-Twilio-Webhooks-Signature-Settings"
SMS_UNAVAILABLE = "Tocsin could not act on your reply just now; please try again in a minute."
VOICE_UNAVAILABLE = "Tocsin could not act on that just now. Please try again. Goodbye."
_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    # The token is in the URL: no other site may learn it from a Referer header.
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}
_TWIML = "text/xml"


class Callbacks:
    def __init__(
        self,
        answers: AnswersPort,
        twilio: TwilioSettings | None,
        public_url: Callable[[], str],
        registry: CollectorRegistry,
    ) -> None:
        """`public_url` gives the base URL Twilio calls this edge at (the configured public
        URL, else this machine's listener); Twilio's own `callback_base_url` wins if set."""
        self._answers = answers
        self._twilio = twilio
        self._public_url = public_url
        self._answered = Counter(
            "tocsin_inbound_answers",
            "Answers to pages received at the HTTP edge, by route and HTTP status.",
            ["route", "status"],
            registry=registry,
        )

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_get(LINK_PATH + "/{token}", self.link)
        router.add_post(LINK_PATH + "/{token}", self.link)
        router.add_post(SMS_PATH, self.sms)
        router.add_post(VOICE_PATH, self.voice)

    async def link(self, request: web.Request) -> web.Response:
        confirm = request.method == "POST"
        try:
            found = await self._answers.redeem_link(request.match_info["token"], confirm)
        except PermissionDenied as exc:
            return self._html("link", 403, link_pages.refusal("This link cannot be used", str(exc)))
        except NotFound:
            reason = "the alert this link is about no longer exists"
            return self._html("link", 404, link_pages.refusal("Alert not found", reason))
        except FailedPrecondition as exc:
            return self._html("link", 409, link_pages.refusal("Nothing was changed", str(exc)))
        except TocsinError as exc:
            log.warning("acknowledge link not handled: %s", type(exc).__name__)
            reason = "Tocsin cannot act on this just now; try again in a minute"
            return self._html("link", 503, link_pages.refusal("Try again soon", reason))
        page = link_pages.result(found) if confirm else link_pages.confirmation(found)
        return self._html("link", 200, page)

    async def sms(self, request: web.Request) -> web.Response:
        twilio = self._twilio
        if twilio is None:
            return self._json("sms", 404, "Twilio is not configured")
        fields = await request.post()
        if not self._signed(request, fields, twilio):
            return self._json("sms", 403, "the X-Twilio-Signature does not match")
        try:
            text = await self._answers.sms_reply(
                _field(fields, "From"), _field(fields, "Body"), _field(fields, "MessageSid")
            )
        except TocsinError as exc:
            # Twilio does not retry a failed webhook: the person hears it failed instead.
            log.warning("SMS reply not handled: %s", type(exc).__name__)
            text = SMS_UNAVAILABLE
        reply = MessagingResponse()
        reply.message(text)
        return self._twiml("sms", str(reply))

    async def voice(self, request: web.Request) -> web.Response:
        twilio = self._twilio
        if twilio is None:
            return self._json("voice", 404, "Twilio is not configured")
        fields = await request.post()
        if not self._signed(request, fields, twilio):
            return self._json("voice", 403, "the X-Twilio-Signature does not match")
        key = request.query.get("key", "")
        if not key:
            return self._json("voice", 400, "the query's key (the page's ledger key) is missing")
        reply = VoiceResponse()
        try:
            answer = await self._answers.voice_digits(
                key, _field(fields, "Digits"), _field(fields, "CallSid")
            )
        except NotFound:
            reply.say("Tocsin no longer knows this alert. Goodbye.")
        except TocsinError as exc:
            log.warning("voice answer not handled: %s", type(exc).__name__)
            reply.say(VOICE_UNAVAILABLE)
        else:
            if answer.outcome is VoiceOutcome.REPEAT:
                return self._twiml(
                    "voice", voice_twiml(_page(answer), self._action(twilio, answer))
                )
            reply.say(answer.say)
        reply.hangup()
        return self._twiml("voice", str(reply))

    def _base(self, twilio: TwilioSettings) -> str:
        return (twilio.callback_base_url or self._public_url()).rstrip("/")

    def _action(self, twilio: TwilioSettings, answer: VoiceAnswer) -> str:
        return action_url(self._base(twilio), _page(answer))

    def _signed(
        self, request: web.Request, fields: MultiMapping[object],
        twilio: TwilioSettings,
    ) -> bool:  # fmt: skip
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not signature:
            return False
        if request.headers.get(SHARED_KEY_HEADER):
            log.warning(
                "a Twilio request signed with a SharedKey was refused: only auth-token "
                "signatures can be checked; remove the Webhook Rule for this URL"
            )
            return False
        # Exactly as sent: the query's percent-encoding is part of what Twilio signed.
        url = self._base(twilio) + request.raw_path
        return bool(RequestValidator(twilio.auth_token).validate(url, fields, signature))

    def _html(self, route: str, status: int, body: str) -> web.Response:
        self._answered.labels(route, str(status)).inc()
        return web.Response(
            text=body, status=status, content_type="text/html", charset="utf-8",
            headers=_PAGE_HEADERS,
        )  # fmt: skip

    def _twiml(self, route: str, body: str) -> web.Response:
        self._answered.labels(route, "200").inc()
        return web.Response(text=body, content_type=_TWIML, charset="utf-8")

    def _json(self, route: str, status: int, reason: str) -> web.Response:
        self._answered.labels(route, str(status)).inc()
        return web.json_response({"status": "rejected", "reason": reason}, status=status)


def _field(fields: MultiMapping[object], name: str) -> str:
    value = fields.get(name, "")
    return value if isinstance(value, str) else ""


def _page(answer: VoiceAnswer) -> Notification:
    """The page the call was, enough of it to read the alert out again."""
    return Notification(
        key=answer.page_key,
        channel=Channel.VOICE,
        address=answer.address,
        username=answer.username,
        alert_id=answer.alert_id,
        tiny_id=answer.tiny_id,
        message=answer.message,
        priority=answer.priority,
        team=answer.team,
    )
