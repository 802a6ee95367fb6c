"""Loopback peers for the notification providers, each speaking the provider's real protocol.

- `SmtpServer`: a real SMTP server (aiosmtpd) with optional AUTH and refusable recipients.
- `TwilioServer`: Twilio's REST shape for Messages and Calls (form bodies, basic auth, 201
  JSON with a `sid`, errors as `{"code", "message", "status"}`), for the real twilio SDK.
- `FcmServer`: FCM v1 `messages:send` plus an OAuth token endpoint that checks the signed
  JWT assertion, and `service_account()` to write a matching key file for firebase-admin.
- `WebhookReceiver`: checks `X-Tocsin-Signature` with its own HMAC, as a user's receiver would.

Each records what it received, in order (`received`), and can be told to refuse: per address
(`refuse`, `unregistered`) or for the next requests (`fail_next`). All start on a free port
and are async context managers, so end-to-end tests can reuse them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import itertools
import json
import secrets
import ssl
import tempfile
import warnings
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

HOST = "127.0.0.1"


class _Peer:
    async def start(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()


# SMTP


@dataclass(frozen=True)
class ReceivedMail:
    sender: str
    recipients: tuple[str, ...]
    message: EmailMessage
    login: str  # the user that authenticated, "" without AUTH

    def part(self, content_type: str) -> str:
        """The body part of this type (text/plain, text/html) as text."""
        body = self.message.get_body(preferencelist=(content_type.split("/")[1],))
        if body is None or body.get_content_type() != content_type:
            raise AssertionError(f"no {content_type} part in {self.message.get_content_type()}")
        return str(body.get_content())


class SmtpServer(_Peer):
    """aiosmtpd's SMTP protocol on a loopback port of the running event loop.

    With `username`, AUTH is required (over plain TCP, which real servers refuse; here it
    shows the client logs in). `refuse[address] = "550 5.1.1 No such user"` answers RCPT
    for that address with that reply.
    """

    def __init__(
        self, *, username: str = "", password: str = "", tls: ssl.SSLContext | None = None
    ) -> None:
        self.received: list[ReceivedMail] = []
        self.refuse: dict[str, str] = {}
        self._credentials = (username, password)
        self._tls = tls  # implicit TLS (port 465 style) with this server context
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, HOST, 0, ssl=self._tls)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _protocol(self) -> SMTP:
        username, _ = self._credentials
        with warnings.catch_warnings():
            # AUTH without TLS, which aiosmtpd rightly warns about, is fine on loopback.
            warnings.simplefilter("ignore", UserWarning)
            return SMTP(
                self,
                hostname="smtp.test",
                auth_required=bool(username),
                auth_require_tls=False,
                authenticator=self._authenticate,
            )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and (
                data.login.decode(),
                data.password.decode(),
            )
            == self._credentials
        )
        # Not handled: aiosmtpd answers 235 or 535 itself.
        return AuthResult(success=ok, handled=False, auth_data=data)

    async def handle_RCPT(  # noqa: N802  (aiosmtpd's hook names)
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or envelope.content or b""
        assert isinstance(content, bytes)
        message = BytesParser(policy=policy.default).parsebytes(content)
        assert isinstance(message, EmailMessage)
        login = ""
        if isinstance(session.auth_data, LoginPassword):
            login = session.auth_data.login.decode()
        self.received.append(
            ReceivedMail(str(envelope.mail_from), tuple(envelope.rcpt_tos), message, login)
        )
        return "250 2.0.0 Message accepted for delivery"


def self_signed_tls() -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1, which no
    client trusts: for testing how certificate refusals are reported."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp.test")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]), False
        )
        .sign(key, hashes.SHA256())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as directory:
        cert_file, key_file = Path(directory, "cert.pem"), Path(directory, "key.pem")
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context.load_cert_chain(cert_file, key_file)
    return context


# HTTP peers


@dataclass(frozen=True)
class Failure:
    status: int
    body: dict[str, Any] = field(default_factory=dict)


class _HttpPeer(_Peer):
    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._failures: deque[Failure] = deque()
        self.port = 0

    def app(self) -> web.Application:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _next_failure(self) -> web.Response | None:
        if not self._failures:
            return None
        failure = self._failures.popleft()
        return web.json_response(failure.body, status=failure.status)


# Twilio

TWILIO_ERRORS = {
    20003: "Authenticate",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    21211: "The 'To' number {to} is not a valid phone number.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
}


@dataclass(frozen=True)
class TwilioRequest:
    resource: str  # "Messages" or "Calls"
    account_sid: str
    form: dict[str, str]
    sid: str  # the sid answered; "" when refused


class TwilioServer(_HttpPeer):
    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__()
        self.account_sid = account_sid
        self._auth = "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self.received: list[TwilioRequest] = []
        self.refuse: dict[str, int] = {}  # a To number -> the Twilio error code it gets (400)
        self._sids = itertools.count(1)

    def fail_next(self, status: int, code: int, message: str = "") -> None:
        """The next request is answered `status` with a Twilio error body."""
        text = message or TWILIO_ERRORS.get(code, "Error").format(to="")
        self._failures.append(Failure(status, _twilio_error(code, text, status)))

    def messages(self) -> list[dict[str, str]]:
        return [r.form for r in self.received if r.resource == "Messages" and r.sid]

    def calls(self) -> list[dict[str, str]]:
        return [r.form for r in self.received if r.resource == "Calls" and r.sid]

    def app(self) -> web.Application:
        app = web.Application()
        path = "/2010-04-01/Accounts/{sid}/{resource:Messages|Calls}.json"
        app.router.add_post(path, self._create)
        return app

    async def _create(self, request: web.Request) -> web.Response:
        sid, resource = request.match_info["sid"], request.match_info["resource"]
        form = {key: str(value) for key, value in (await request.post()).items()}
        if request.headers.get("Authorization") != self._auth or sid != self.account_sid:
            self.received.append(TwilioRequest(resource, sid, form, ""))
            return web.json_response(_twilio_error(20003, "Authenticate", 401), status=401)
        failure = self._next_failure()
        to = form.get("To", "")
        if failure is None and to in self.refuse:
            code = self.refuse[to]
            text = TWILIO_ERRORS.get(code, "Error").format(to=to)
            failure = web.json_response(_twilio_error(code, text, 400), status=400)
        if failure is not None:
            self.received.append(TwilioRequest(resource, sid, form, ""))
            return failure
        prefix = "SM" if resource == "Messages" else "CA"
        answer_sid = f"{prefix}{next(self._sids):032x}"
        self.received.append(TwilioRequest(resource, sid, form, answer_sid))
        body: dict[str, Any] = {
            "sid": answer_sid,
            "account_sid": sid,
            "to": to,
            "from": form.get("From", ""),
            "status": "queued",
            "date_created": "Sun, 01 Mar 2026 09:00:00 +0000",
            "uri": f"/2010-04-01/Accounts/{sid}/{resource}/{answer_sid}.json",
        }
        if resource == "Messages":
            body |= {"body": form.get("Body", ""), "num_segments": "1", "direction": "outbound-api"}
        else:
            body |= {"direction": "outbound-api", "api_version": "2010-04-01"}
        return web.json_response(body, status=201)


def _twilio_error(code: int, message: str, status: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


# FCM


@dataclass(frozen=True)
class FcmRequest:
    project: str
    message: dict[str, Any]  # the "message" object, as sent
    name: str  # the message name answered; "" when refused


class FcmServer(_HttpPeer):
    """FCM v1 and Google's OAuth token endpoint, for service accounts it wrote itself."""

    def __init__(self, project_id: str = "tocsin-test") -> None:
        super().__init__()
        self.project_id = project_id
        self.client_email = f"tocsin@{project_id}.iam.gserviceaccount.com"
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.received: list[FcmRequest] = []
        self.unregistered: set[str] = set()  # FIDs or tokens answered 404 UNREGISTERED
        self.tokens_issued: list[str] = []
        self._ids = itertools.count(1)

    def service_account(self, path: Path) -> Path:
        """Writes a service-account key file whose token_uri is this server."""
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        account = {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": "test-key-1",
            "private_key": pem,
            "client_email": self.client_email,
            "client_id": "1",
            "token_uri": f"{self.url}/token",
        }
        path.write_text(json.dumps(account))
        return path

    def fail_next(self, status: int, error_status: str, error_code: str = "") -> None:
        """The next send is answered `status` with an FCM error (and FcmError code)."""
        self._failures.append(Failure(status, _fcm_error(status, error_status, error_code)))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/token", self._token)
        app.router.add_post("/v1/projects/{project}/messages:send", self._send)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant = form.get("grant_type")
        assertion = str(form.get("assertion", ""))
        if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer" or not self._valid(assertion):
            return web.json_response(
                {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
                status=400,
            )
        token = f"ya29.test-{secrets.token_hex(8)}"
        self.tokens_issued.append(token)
        return web.json_response(
            {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}
        )

    def _valid(self, assertion: str) -> bool:
        try:
            header, payload, signature = assertion.split(".")
            self._key.public_key().verify(
                _unb64(signature),
                f"{header}.{payload}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
            claims = json.loads(_unb64(payload))
        except (ValueError, InvalidSignature):
            return False
        return bool(claims.get("iss") == self.client_email and claims.get("aud"))

    async def _send(self, request: web.Request) -> web.Response:
        project = request.match_info["project"]
        body = await request.json()
        message = body.get("message", {})
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens_issued:
            self.received.append(FcmRequest(project, message, ""))
            error = _fcm_error(401, "UNAUTHENTICATED", "")
            return web.json_response(error, status=401)
        failure = self._next_failure()
        target = message.get("fid") or message.get("token")
        if failure is None and target in self.unregistered:
            failure = web.json_response(_fcm_error(404, "NOT_FOUND", "UNREGISTERED"), status=404)
        if failure is None and project != self.project_id:
            failure = web.json_response(_fcm_error(403, "PERMISSION_DENIED", ""), status=403)
        if failure is not None:
            self.received.append(FcmRequest(project, message, ""))
            return failure
        name = f"projects/{project}/messages/{next(self._ids)}"
        self.received.append(FcmRequest(project, message, name))
        return web.json_response({"name": name})


def _fcm_error(status: int, error_status: str, error_code: str) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": status,
        "message": error_status.title(),
        "status": error_status,
    }
    if error_code:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": error_code,
            }
        ]
    return {"error": error}


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# Webhooks


@dataclass(frozen=True)
class ReceivedHook:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver(_HttpPeer):
    """A user's webhook endpoint: 401 for a bad signature, 200 otherwise (or what
    `fail_next` says)."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret.encode()
        self.received: list[ReceivedHook] = []

    def fail_next(self, status: int) -> None:
        self._failures.append(Failure(status, {"error": f"scripted {status}"}))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._receive)
        return app

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(self._secret, body, hashlib.sha256).hexdigest()
        given = request.headers.get("X-Tocsin-Signature", "")
        valid = hmac.compare_digest(expected, given)
        self.received.append(ReceivedHook(request.path, dict(request.headers), body, valid))
        if not valid:
            return web.json_response({"error": "bad signature"}, status=401)
        failure = self._next_failure()
        if failure is not None:
            return failure
        return web.json_response(
            {"ok": True}, headers={"X-Request-Id": f"req-{len(self.received)}"}
        )
