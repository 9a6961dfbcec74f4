import pytest
from cryptography.fernet import Fernet

from apps.core.crypto import decrypt, encrypt


def test_round_trip_and_ciphertext_hides_the_secret():
    token = encrypt("app-secret-123")
    assert "app-secret-123" not in token
    assert decrypt(token) == "app-secret-123"
    assert encrypt("app-secret-123") != token, "a fresh IV every time"


def test_a_token_from_another_key_cannot_be_decrypted(settings):
    settings.FIELD_ENCRYPTION_KEY = Fernet.generate_key().decode()
    token = encrypt("app-secret-123")
    settings.FIELD_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with pytest.raises(ValueError, match="cannot be decrypted"):
        decrypt(token)


def test_without_a_field_key_the_secret_key_derives_one(settings):
    settings.FIELD_ENCRYPTION_KEY = ""
    token = encrypt("x")
    assert decrypt(token) == "x"
    settings.SECRET_KEY = "another-secret-key"
    with pytest.raises(ValueError):
        decrypt(token)
