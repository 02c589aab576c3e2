"""Which V1 bodies `media_type.refusal` lets through: the rule on its own (the server's
answers are in test_isolation)."""

from __future__ import annotations

import pytest

from salesops.serving.media_type import refusal

PREDICT = "/v1/models/salesops-demand:predict"
ORIGIN = (b"origin", b"https://attacker.example")


@pytest.mark.parametrize("headers", [
    [],
    [(b"content-type", b"application/json")],
    [(b"content-type", b"Application/JSON; charset=utf-8")],
    [(b"content-type", b"application/cloudevents+json"), ORIGIN],
    [(b"content-type", b"application/octet-stream")],
])
def test_json_and_untyped_bodies_from_clients_are_read(headers):
    assert refusal("POST", PREDICT, dict(headers)) is None


@pytest.mark.parametrize("headers, words", [
    ([(b"content-type", b"text/plain")], "Content-Type text/plain is not JSON"),
    ([(b"content-type", b"text/plain;charset=UTF-8"), ORIGIN], "text/plain is not JSON"),
    ([(b"content-type", b"application/x-www-form-urlencoded")], "x-www-form-urlencoded"),
    ([(b"content-type", b"multipart/form-data; boundary=x")], "multipart/form-data"),
    ([(b"content-type", b"text/json")], "text/json is not JSON"),
    ([(b"content-type", b"")], "(empty) is not JSON"),
    ([ORIGIN], "without Content-Type from a web page"),
])
def test_what_a_page_can_post_cross_site_is_refused(headers, words):
    problem = refusal("POST", PREDICT, dict(headers))
    assert words in problem and "application/json" in problem


@pytest.mark.parametrize("method, path", [("GET", "/v1/models/salesops-demand"),
                                          ("POST", "/v2/models/salesops-demand/infer")])
def test_other_routes_are_not_its_business(method, path):
    assert refusal(method, path, {b"content-type": b"text/plain"}) is None
