"""Short ways to call the JSON API from tests."""

from typing import Any

from django.test import Client


def post(client: Client, url: str, body: object) -> Any:
    return client.post(url, body, content_type="application/json")


def patch(client: Client, url: str, body: object) -> Any:
    return client.patch(url, body, content_type="application/json")


def call(client: Client, method: str, path: str, body: object) -> Any:
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, body, content_type="application/json")


def first_error_field(response: Any) -> str:
    return response.json()["details"]["errors"][0]["field"]
