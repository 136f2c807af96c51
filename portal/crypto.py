"""Encryption of secrets the server must be able to read back (webhook signing secrets).

Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from EARSHOT_ENCRYPTION_KEY, or from
DJANGO_SECRET_KEY when that is not set; a database dump holds only ciphertext.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

__all__ = ["decrypt", "encrypt"]


def _fernet() -> Fernet:
    material = (settings.EARSHOT_ENCRYPTION_KEY or settings.SECRET_KEY).encode()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"earshot-secrets", info=b"fernet").derive(material)
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()
