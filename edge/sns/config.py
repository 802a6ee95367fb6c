"""The `sns:` section of the configuration: how the HTTP edge treats SNS deliveries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SnsConfig:
    """The `sns:` section: how the HTTP edge treats SNS deliveries."""

    # Where subscriptions are confirmed; empty: https://sns.<region>.amazonaws.com[.cn].
    # Also AWS_ENDPOINT_URL_SNS, as the AWS tools read it (LocalStack, tests).
    endpoint_url: str = ""
    # Signing certificate URL -> PEM, for machines that cannot reach AWS, and tests.
    pinned_certificates: Mapping[str, bytes] = field(default_factory=dict)
    max_age_seconds: int = 3600
    max_ahead_seconds: int = 300
