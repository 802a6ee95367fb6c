"""SNS signing certificates: pinned ones from the configuration, else fetched and cached.

Only URLs that `sns_signature.signing_cert_url` built reach here. A fetch uses TLS
verification, no redirects, a short timeout and a size cap. When AWS cannot be reached the
delivery is answered 503, so SNS retries it; a certificate that arrives but is unusable makes
the delivery unverifiable (403).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timedelta

import aiohttp

from edge.sns.message import forged
from edge.sns.signature import certificate_key
from service.core.clock import Clock

FETCH_TIMEOUT_SECONDS = 5.0
MAX_CERTIFICATE_BYTES = 64 * 1024
CACHE_TTL = timedelta(hours=12)
CACHE_MAX = 64


class CertificateUnavailableError(Exception):
    """The certificate could not be fetched now; later may work."""


class CertificateSource:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        clock: Clock,
        pinned: Mapping[str, bytes],
    ) -> None:
        self._session = session
        self._clock = clock
        self._pinned = dict(pinned)
        self._cache: OrderedDict[str, tuple[bytes, datetime]] = OrderedDict()

    async def get(self, url: str) -> bytes:
        pinned = self._pinned.get(url)
        if pinned is not None:
            return pinned
        now = self._clock.now()
        cached = self._cache.get(url)
        if cached is not None and cached[1] > now:
            self._cache.move_to_end(url)
            return cached[0]
        pem = await self._fetch(url)
        certificate_key(pem, now)  # only a usable certificate is remembered
        self._cache[url] = (pem, now + CACHE_TTL)
        self._cache.move_to_end(url)
        while len(self._cache) > CACHE_MAX:
            self._cache.popitem(last=False)
        return pem

    async def _fetch(self, url: str) -> bytes:
        timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS)
        try:
            async with self._session.get(url, allow_redirects=False, timeout=timeout) as reply:
                if reply.status == 429 or reply.status >= 500:
                    raise CertificateUnavailableError(f"AWS answered HTTP {reply.status}")
                if reply.status != 200:
                    raise forged(f"the signing certificate answered HTTP {reply.status}")
                pem = bytearray()
                async for chunk in reply.content.iter_chunked(16 * 1024):
                    pem += chunk
                    if len(pem) > MAX_CERTIFICATE_BYTES:
                        raise forged("the signing certificate is too large")
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = f"cannot fetch the signing certificate ({type(exc).__name__})"
            raise CertificateUnavailableError(reason) from exc
        return bytes(pem)
