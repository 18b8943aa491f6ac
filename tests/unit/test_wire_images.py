"""``avatarUrl`` and ``imageUrl`` on publish: https on a public host; loopback, and http there, only in development."""
from __future__ import annotations

import msgspec
import pytest

from herald.errors import HeraldError
from herald.wire import PublishRequest, check_publish


def request(**fields: str) -> PublishRequest:
    return msgspec.convert({"to": {"users": ["u1"]}, "type": "t", "title": "x", **fields}, PublishRequest)


@pytest.mark.parametrize("field", ["avatarUrl", "imageUrl"])
def test_public_https_pictures_pass_everywhere(field: str) -> None:
    check_publish(request(**{field: "https://cdn.example.com/a.png"}), production=True)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/a.png", "https://localhost/a.png", "https://[::1]/a.png"])
def test_loopback_pictures_pass_in_development_only(url: str) -> None:
    check_publish(request(imageUrl=url), production=False)
    with pytest.raises(HeraldError, match='"imageUrl" points at this machine'):
        check_publish(request(imageUrl=url), production=True)


def test_callers_that_do_not_say_get_production_rules() -> None:
    with pytest.raises(HeraldError):
        check_publish(request(avatarUrl="http://127.0.0.1/a.png"))


@pytest.mark.parametrize(("url", "reason"), [
    ("javascript:alert(1)", "absolute https URL"),
    ("http://cdn.example.com/a.png", "must use https"),
    ("https://10.1.2.3/a.png", "private address"),
    ("https://169.254.169.254/", "metadata address"),
    ("https://[fe80::1]/a.png", "private address"),
    ("https://metadata.google.internal/", "metadata service"),
])
def test_unsafe_avatars_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(HeraldError, match=f'"avatarUrl" .*{reason}'):
        check_publish(request(avatarUrl=url), production=False)
