"""Google-signed OIDC tokens, as an authenticated Pub/Sub push subscription sends them.

Pub/Sub signs a JWT for the subscription's service account and sends it as
``Authorization: Bearer <token>`` with each push; the receiver checks the
signature against Google's certificates (``https://www.googleapis.com/oauth2/v1/certs``:
a JSON object of PEM x509 certificates by key id), then the issuer, the
audience and the ``email``/``email_verified`` claims.  ``OidcSigner`` plays
Google's part with a key of its own: ``certs()`` is what the emulator serves
at ``/oauth2/v1/certs``, ``sign()`` makes a token.

The JWS is written here with ``cryptography`` rather than a JWT library the
product might also use to verify, so a mistake shared by both sides cannot
hide.  The key is made on first use (an RSA key takes a moment).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

GOOGLE_ISSUER = "https://accounts.google.com"
TOKEN_LIFETIME = 3600  # Pub/Sub's push tokens last an hour


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class OidcSigner:
    def __init__(self, kid: str | None = None):
        self.kid = kid or secrets.token_hex(20)
        self._lock = threading.Lock()
        self._key = None
        self._certificate_pem: str | None = None

    def _ensure_key(self):
        with self._lock:
            if self._key is None:
                from cryptography import x509
                from cryptography.hazmat.primitives import hashes, serialization
                from cryptography.hazmat.primitives.asymmetric import rsa
                from cryptography.x509.oid import NameOID

                key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.system.gserviceaccount.com")])
                now = datetime.now(timezone.utc)
                certificate = (
                    x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                    .serial_number(x509.random_serial_number())
                    .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=14))
                    .sign(key, hashes.SHA256())
                )
                self._certificate_pem = certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
                self._key = key
            return self._key

    def certs(self) -> dict[str, str]:
        """``{kid: PEM x509 certificate}``, the shape of Google's oauth2/v1/certs."""
        self._ensure_key()
        return {self.kid: self._certificate_pem or ""}

    def sign(self, claims: dict[str, Any], *, kid: str | None = None) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        key = self._ensure_key()
        header = {"alg": "RS256", "kid": kid or self.kid, "typ": "JWT"}
        signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                         + _b64url(json.dumps(claims, separators=(",", ":")).encode()))
        signature = key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + _b64url(signature)


def push_claims(service_account: str, audience: str, *, issued_at: float | None = None,
                lifetime: int = TOKEN_LIFETIME, email_verified: bool = True,
                issuer: str = GOOGLE_ISSUER) -> dict[str, Any]:
    """The claims of a push token: Google puts the service account's numeric id in ``sub`` and ``azp``."""
    issued = int(time.time() if issued_at is None else issued_at)
    subject = str(int.from_bytes(service_account.encode()[:8].ljust(8, b"\0"), "big") % 10**21)
    return {"aud": audience, "azp": subject, "email": service_account, "email_verified": email_verified,
            "exp": issued + lifetime, "iat": issued, "iss": issuer, "sub": subject}
