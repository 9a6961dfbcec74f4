import threading

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from rest_framework.test import APIClient

from apps.core.models import IdempotencyKey
from tests.core.factories import UserFactory

pytestmark = pytest.mark.urls("tests.core.urls")


@pytest.fixture
def client(db):
    client = APIClient()
    client.force_authenticate(UserFactory())
    return client


def post(client, body, key="key-1"):
    return client.post("/groups", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_same_key_and_body_replays_the_first_response(client):
    first = post(client, {"name": "north"})
    second = post(client, {"name": "north"})

    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first
    assert second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert Group.objects.filter(name="north").count() == 1


def test_same_key_with_a_different_body_is_refused(client):
    post(client, {"name": "north"})
    response = post(client, {"name": "south"})

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_conflict"
    assert not Group.objects.filter(name="south").exists()


def test_without_the_header_each_post_runs(client):
    assert client.post("/groups", {"name": "a"}, format="json").status_code == 201
    assert client.post("/groups", {"name": "b"}, format="json").status_code == 201
    assert not IdempotencyKey.objects.exists()


def test_an_over_long_key_is_refused(client):
    response = post(client, {"name": "north"}, key="k" * 256)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert not Group.objects.exists()


def test_error_responses_are_not_stored_so_a_retry_runs_again(client):
    assert post(client, {"name": ""}).status_code == 400
    Group.objects.create(name="taken")
    refused = post(client, {"name": "taken"})
    assert refused.status_code == 409
    assert refused.json()["code"] == "name_taken"
    assert not IdempotencyKey.objects.exists()

    Group.objects.filter(name="taken").delete()
    retried = post(client, {"name": "taken"})
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried


def test_keys_are_scoped_per_caller(client):
    other = APIClient()
    other.force_authenticate(UserFactory())
    assert post(client, {"name": "mine"}).status_code == 201
    response = post(other, {"name": "theirs"})
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_posts_with_one_key_create_one_row():
    user = UserFactory()
    start = threading.Barrier(20)
    responses = []
    lock = threading.Lock()

    def send():
        try:
            client = APIClient()
            client.force_authenticate(user)
            start.wait()
            response = post(client, {"name": "flash"}, key="same-key")
            with lock:
                responses.append(response)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Group.objects.filter(name="flash").count() == 1
    assert sorted(r.status_code for r in responses) == [201] * 20
    assert {r.json()["id"] for r in responses} == {Group.objects.get(name="flash").pk}
    assert sum("Idempotent-Replayed" not in r for r in responses) == 1
