"""The client's address: X-Forwarded-For counts only when the peer is a trusted proxy."""

import pytest

from livepatch_app.client_address import ClientAddress, client_address, parse_trusted_proxies
from livepatch_app.config import ConfigError, load_config

TRUSTED = parse_trusted_proxies("10.0.0.0/24, 192.168.1.7, fd00::/64")


@pytest.mark.parametrize("peer, forwarded, expected", [
    # No trusted proxies configured: the peer, whatever the header says.
    ("10.0.0.5", None, "10.0.0.5"),
    ("203.0.113.9", "198.51.100.1", "203.0.113.9"),  # an untrusted peer cannot claim another address
    ("10.0.0.5", "198.51.100.1", "198.51.100.1"),  # haproxy's option forwardfor
    ("192.168.1.7", " 198.51.100.1 ", "198.51.100.1"),
    # A client's own header comes before what the trusted proxy appended: only the proxy's entry counts.
    ("10.0.0.5", "1.2.3.4, 198.51.100.1", "198.51.100.1"),
    # Chains of trusted proxies are walked from the right.
    ("10.0.0.5", "198.51.100.1, 192.168.1.7", "198.51.100.1"),
    ("10.0.0.5", "1.1.1.1, 198.51.100.1, 10.0.0.6", "198.51.100.1"),
    # Only trusted hops: the leftmost one.
    ("10.0.0.5", "10.0.0.9, 10.0.0.6", "10.0.0.9"),
    # Garbage from the proxy: stay with the last address we trust.
    ("10.0.0.5", "not-an-address", "10.0.0.5"),
    ("10.0.0.5", "198.51.100.1, unknown", "10.0.0.5"),
    ("10.0.0.5", "", "10.0.0.5"),
    # IPv6, and IPv4 peers seen as IPv4-mapped IPv6 addresses.
    ("fd00::1", "2001:db8::5", "2001:db8::5"),
    ("::ffff:10.0.0.5", "198.51.100.1", "198.51.100.1"),
    ("::ffff:10.0.0.5", None, "10.0.0.5"),
])
def test_client_address(peer, forwarded, expected):
    assert client_address(peer, forwarded, TRUSTED) == expected


def test_nothing_trusted_by_default():
    assert client_address("127.0.0.1", "198.51.100.1", ()) == "127.0.0.1"
    assert load_config(None, environ={}).trusted_proxies == ()


def test_middleware_sets_remote_addr_and_drops_proxy_headers():
    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        return []

    wrapped = ClientAddress(app, TRUSTED)
    environ = {"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "198.51.100.1",
               "HTTP_X_FORWARDED_HOST": "evil.example", "HTTP_FORWARDED": "for=1.2.3.4",
               "HTTP_X_FORWARDED_PROTO": "https"}
    wrapped(environ, None)
    assert seen["REMOTE_ADDR"] == "198.51.100.1"
    assert seen["livepatch.peer"] == "10.0.0.5"
    assert not {"HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_HOST", "HTTP_FORWARDED",
                "HTTP_X_FORWARDED_PROTO"} & set(seen)


@pytest.mark.parametrize("value, expected", [
    ("", ()),
    ("10.0.0.1", ("10.0.0.1/32",)),
    ("10.0.0.0/8, 2001:db8::/32,::1", ("10.0.0.0/8", "2001:db8::/32", "::1/128")),
])
def test_trusted_proxies_option(value, expected):
    config = load_config(None, environ={"LIVEPATCH_TRUSTED_PROXIES": value})
    assert tuple(str(n) for n in config.trusted_proxies) == expected


@pytest.mark.parametrize("value", ["10.0.0.300", "haproxy.example", "10.0.0.1/33", "10.0.0.1/24", "*"])
def test_bad_trusted_proxies_name_the_key_and_the_entry(value):
    with pytest.raises(ConfigError) as err:
        load_config(None, environ={"LIVEPATCH_TRUSTED_PROXIES": "10.1.1.1," + value})
    assert str(err.value).startswith("invalid trusted_proxies:")
    assert repr(value) in str(err.value)


@pytest.mark.parametrize("peer, proto, expected", [
    ("10.0.0.5", "https", "https"),  # haproxy terminating TLS
    ("10.0.0.5", "HTTP", "http"),
    ("10.0.0.5", "http, https", "https"),  # the nearest proxy's entry, the last
    ("10.0.0.5", "gopher", None),
    ("10.0.0.5", None, None),
    ("203.0.113.9", "https", None),  # an untrusted peer cannot claim TLS
])
def test_forwarded_proto_counts_from_a_trusted_proxy_only(peer, proto, expected):
    from livepatch_app.client_address import forwarded_proto

    assert forwarded_proto(peer, proto, TRUSTED) == expected
    assert forwarded_proto(peer, proto, ()) is None


def test_the_wrapper_keeps_the_scheme_and_removes_the_header():
    from livepatch_app.client_address import request_scheme

    seen = {}

    def app(environ, start_response):
        seen.update(environ)
        return []

    wrapped = ClientAddress(app, TRUSTED)
    wrapped({"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_PROTO": "https", "wsgi.url_scheme": "http"}, None)
    assert "HTTP_X_FORWARDED_PROTO" not in seen and request_scheme(seen) == "https"
    seen.clear()
    wrapped({"REMOTE_ADDR": "203.0.113.9", "HTTP_X_FORWARDED_PROTO": "https", "wsgi.url_scheme": "http"}, None)
    assert "HTTP_X_FORWARDED_PROTO" not in seen and request_scheme(seen) == "http"
