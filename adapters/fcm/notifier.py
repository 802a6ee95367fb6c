"""Push pages through Firebase Cloud Messaging (firebase-admin's `messaging.send`).

Each notifier owns a named firebase-admin app, so two configurations (or two tests) never
share the SDK's default app. A page is a high-priority notification on Android and a
time-sensitive alert with sound on iOS; its data tells the Tocsin app which alert it is and
that acknowledging is the expected action.
"""

from __future__ import annotations

import asyncio
import re
import uuid
import warnings
from typing import TYPE_CHECKING, Any

import firebase_admin
import google.auth.exceptions
import requests
from firebase_admin import credentials, messaging
from firebase_admin.exceptions import FirebaseError
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from adapters.fcm.settings import FCM_API
from service.paging.notifier import Notification, Outcome, SendResult

if TYPE_CHECKING:
    from adapters.fcm.settings import FcmSettings

APNS_CATEGORY = "TOCSIN_ALERT"
_TITLE_MAX = 120
_BODY_MAX = 400
# Without an HTTP response, these codes mean the request may not have reached FCM.
_TRANSIENT = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "UNKNOWN", "INTERNAL", "RESOURCE_EXHAUSTED"}


class FcmNotifier:
    def __init__(self, settings: FcmSettings) -> None:
        self._app = firebase_admin.initialize_app(
            credentials.Certificate(str(settings.credentials_file)),
            {"projectId": settings.project_id, "httpTimeout": settings.timeout_seconds},
            name=f"tocsin-fcm-{uuid.uuid4().hex}",
        )
        _route(self._app, settings.base_url)

    async def send(self, page: Notification) -> SendResult:
        if not page.address:
            return SendResult(Outcome.PERMANENT, detail="no device token")
        try:
            name = await asyncio.to_thread(messaging.send, fcm_message(page), app=self._app)
        except (FirebaseError, google.auth.exceptions.GoogleAuthError) as exc:
            return _classify(exc)
        return SendResult(Outcome.DELIVERED, provider_id=str(name))

    async def close(self) -> None:
        # Off the loop: deleting the app closes the SDK's async client with asyncio.run.
        await asyncio.to_thread(firebase_admin.delete_app, self._app)


def fcm_message(page: Notification) -> Any:
    """The `messaging.Message` for `page`."""
    title = _shorten(f"[{page.priority}] #{page.tiny_id} {_one_line(page.message)}", _TITLE_MAX)
    about = " · ".join(part for part in (page.team, page.entity, page.source) if part)
    body = _shorten("\n".join(p for p in (about, page.description.strip()) if p), _BODY_MAX)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # `token`: see _target
        return messaging.Message(
            **_target(page.address),
            notification=messaging.Notification(title=title, body=body),
            data={
                "alert_id": page.alert_id,
                "tiny_id": str(page.tiny_id),
                "priority": page.priority,
                "team": page.team,
                "page_key": page.key,
                "action": "acknowledge",
            },
            android=messaging.AndroidConfig(priority="high"),
            apns=messaging.APNSConfig(
                headers={"apns-priority": "10"},  # deliver now, not when the phone next wakes
                payload=messaging.APNSPayload(
                    aps=messaging.Aps(
                        alert=messaging.ApsAlert(title=title, body=body),
                        sound="default",
                        category=APNS_CATEGORY,
                    )
                ),
            ),
        )


def _target(address: str) -> dict[str, str]:
    """FCM now addresses app instances by installation ID (FID: 22 characters, no colon) and
    deprecates registration tokens (`<fid>:<opaque>`), which it still accepts. A contact
    method may hold either, so it is sent as what it looks like."""
    return {"token": address} if ":" in address else {"fid": address}


def _classify(exc: Exception) -> SendResult:
    if isinstance(exc, messaging.UnregisteredError):
        return SendResult(
            Outcome.PERMANENT,
            detail="FCM UNREGISTERED: the device token is no longer valid (app removed?)",
        )
    if isinstance(exc, FirebaseError):
        response = exc.http_response
        if response is not None:
            status = int(response.status_code)
            retry = status == 429 or status >= 500
            detail = f"FCM {status} {exc.code}: {exc}"
        else:
            retry = exc.code in _TRANSIENT
            detail = f"FCM {exc.code}: {exc}"
        return SendResult(Outcome.RETRYABLE if retry else Outcome.PERMANENT, detail=detail)
    if isinstance(exc, google.auth.exceptions.TransportError):
        return SendResult(Outcome.RETRYABLE, detail="FCM access token: token endpoint unreachable")
    if isinstance(exc, google.auth.exceptions.GoogleAuthError):
        # A refused service account will not be accepted on the next try either.
        outcome = Outcome.RETRYABLE if exc.retryable else Outcome.PERMANENT
        return SendResult(outcome, detail=f"FCM access token refused: {_one_line(str(exc))}")
    raise exc


class _Transport(HTTPAdapter):
    """Carries firebase-admin's requests for fcm.googleapis.com to `base_url`, retrying only
    connections that failed to open: retrying sends is the engine's job, and the SDK's own
    policy (four retries of 500 and 503 with back-off) would hold a page for seconds."""

    def __init__(self, base_url: str) -> None:
        super().__init__(max_retries=Retry(total=1, connect=1, read=False, status=0, other=0))
        self._base_url = base_url.rstrip("/")

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        url = request.url or ""
        if self._base_url != FCM_API and url.startswith(FCM_API + "/"):
            request.url = self._base_url + url[len(FCM_API) :]
            # The session chose proxies for Google's host; choose again for the new one.
            proxies = requests.utils.get_environ_proxies(request.url)
        return super().send(request, stream, timeout, verify, cert, proxies)


def _route(app: Any, base_url: str) -> None:
    """firebase-admin has no setting for the FCM endpoint, so the transport goes on its
    messaging client's session, which routes by URL prefix to adapters like this one."""
    service = messaging._get_messaging_service(app)
    session = getattr(getattr(service, "_client", None), "session", None)
    if not isinstance(session, requests.Session):
        version = firebase_admin.__version__
        raise RuntimeError(f"firebase-admin {version}: its messaging client has no session")
    session.mount(FCM_API, _Transport(base_url))


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
