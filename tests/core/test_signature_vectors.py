"""docs/signature-vectors.json: what a client signs, byte for byte. The vectors' signatures
were computed apart from this code (openssl over the string to sign); the server and the
client we ship must both agree with every one of them."""

import json
from pathlib import Path

import pytest

from apps.core import signatures
from clients import oms_client

DOCUMENT = json.loads((Path(__file__).resolve().parents[2] / "docs" / "signature-vectors.json").read_text())
VECTORS = DOCUMENT["vectors"]


@pytest.mark.parametrize("implementation", [signatures, oms_client], ids=["server", "client"])
@pytest.mark.parametrize("vector", VECTORS, ids=[vector["target"] for vector in VECTORS])
def test_the_canonical_form_and_signature_match_the_published_vector(implementation, vector):
    body = vector["body"].encode()
    assert implementation.canonical_target(vector["target"]) == vector["canonical_target"]
    string = implementation.signing_string if implementation is signatures else implementation.string_to_sign
    assert (
        string(vector["method"], vector["target"], DOCUMENT["timestamp"], vector["nonce"], body).decode()
        == (vector["string_to_sign"])
    )
    signature = implementation.sign(
        DOCUMENT["secret"], vector["method"], vector["target"], DOCUMENT["timestamp"], vector["nonce"], body
    )
    assert signature == vector["signature"]


def test_the_vectors_cover_escapes_case_unicode_query_and_body():
    targets = [vector["target"] for vector in VECTORS]
    assert any("%28" in target for target in targets)
    assert any("%2a" in target for target in targets)
    assert any("(" in target for target in targets)
    assert any("+" in target and "?" in target for target in targets)
    assert any(not target.isascii() for target in targets)
    assert any(vector["body"] for vector in VECTORS)


def test_every_spelling_of_one_target_signs_alike():
    spellings = ["/api/v1/skus/(x)/stock", "/api/v1/skus/%28x%29/stock", "/api/v1/skus/%28x%29/st%6Fck"]
    assert len({signatures.sign("k", "GET", target, "1", "n", b"") for target in spellings}) == 1
    assert signatures.sign("k", "GET", "/api/v1/skus/x/stock", "1", "n", b"") != signatures.sign(
        "k", "GET", "/api/v1/skus/y/stock", "1", "n", b""
    )
