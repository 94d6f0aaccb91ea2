"""Behind a proxy, login lockouts count the client's address the proxy saw, not the proxy's."""

from django.test import RequestFactory

from core.proxy import client_ip


def test_it_takes_the_address_the_proxy_appended():
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9"
    )

    assert client_ip(request) == "203.0.113.9"


def test_without_the_header_it_takes_the_peer_address():
    request = RequestFactory().get("/", REMOTE_ADDR="198.51.100.4")

    assert client_ip(request) == "198.51.100.4"
