"""RSA (SHA256withRSA, PKCS#1 v1.5) and AES-256-GCM helpers shared by the providers and the sandbox.

Plain ``cryptography`` calls with no Django import, so the standalone sandbox gateway uses
exactly the same code paths as the real clients.
"""

import base64
import functools
import os
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class DecryptionError(Exception):
    """A ciphertext that does not authenticate: tampered, or encrypted with another key."""


@functools.lru_cache(maxsize=32)
def load_private_key(path: str) -> rsa.RSAPrivateKey:
    return serialization.load_pem_private_key(Path(path).read_bytes(), password=None)


@functools.lru_cache(maxsize=64)
def load_public_key(path: str) -> rsa.RSAPublicKey:
    """A PEM public key, or the key inside a PEM X.509 certificate (WeChat platform certificates)."""
    data = Path(path).read_bytes()
    if b"BEGIN CERTIFICATE" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    return serialization.load_pem_public_key(data)


def rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def aes_gcm_decrypt(key: str, *, nonce: str, associated_data: str, ciphertext: str) -> bytes:
    """AEAD_AES_256_GCM as WeChat Pay uses it: base64 ciphertext (with the 16-byte tag appended)."""
    try:
        return AESGCM(key.encode()).decrypt(
            nonce.encode(), base64.b64decode(ciphertext, validate=True), associated_data.encode() or None
        )
    except (InvalidTag, ValueError) as exc:
        raise DecryptionError("resource does not decrypt with the APIv3 key") from exc


def aes_gcm_encrypt(key: str, *, nonce: str, associated_data: str, plaintext: bytes) -> str:
    return base64.b64encode(
        AESGCM(key.encode()).encrypt(nonce.encode(), plaintext, associated_data.encode() or None)
    ).decode()


def generate_key_pair(directory: Path, name: str) -> None:
    """Write ``<name>_private.pem`` and ``<name>_public.pem`` (RSA 2048) unless they exist."""
    private_path = directory / f"{name}_private.pem"
    public_path = directory / f"{name}_public.pem"
    if private_path.exists() and public_path.exists():
        return
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    os.chmod(private_path, 0o600)
    public_path.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
