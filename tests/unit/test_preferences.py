"""The pure rules of preferences: an item's category, a channel's value, zones and windows refused clearly."""
from __future__ import annotations

import pytest

from herald.errors import HeraldError
from herald.preferences import CHANNELS, Default, UserPreferences, category_of, effective, windows, zone


def test_the_category_is_given_or_the_types_first_segment() -> None:
    assert category_of("billing", "order.shipped") == "billing"
    assert category_of(None, "order.shipped") == "order"
    assert category_of(None, "digest") == "digest"
    assert len(category_of(None, "x" * 100)) == 64


def test_the_users_choice_wins_over_the_default_and_everything_else_is_on() -> None:
    assert effective(None, None) == dict.fromkeys(CHANNELS, True)
    default = Default(False, {"webPush": False, "fcm": False})
    assert effective(default, None) == {"inApp": True, "webPush": False, "fcm": False, "apns": True}
    assert effective(default, {"webPush": True, "inApp": False}) == {
        "inApp": False, "webPush": True, "fcm": False, "apns": True}


def test_a_critical_category_is_on_whatever_was_stored() -> None:
    assert effective(Default(True, {"inApp": False}), {"webPush": False}) == dict.fromkeys(CHANNELS, True)


@pytest.mark.parametrize("name", ["Mars/Olympus", "../../etc/passwd", "/etc/localtime", "Europe/"])
def test_unknown_zones_are_a_400(name: str) -> None:
    with pytest.raises(HeraldError) as raised:
        zone(name)
    assert raised.value.status == 400 and "IANA" in raised.value.message


def test_no_zone_is_utc() -> None:
    assert zone(None).key == "UTC"
    assert zone("Europe/Berlin").key == "Europe/Berlin"


def test_a_bad_stored_window_names_its_index() -> None:
    with pytest.raises(HeraldError) as raised:
        windows([{"days": ["mon"], "start": "22:00", "end": "07:00"},
                 {"days": ["mon"], "start": "25:00", "end": "07:00"}])
    assert raised.value.message.startswith('"quietHours[1]"')


def test_do_not_disturb_alone_ends_at_its_instant() -> None:
    prefs = UserPreferences(dnd_until=2_000_000)
    assert prefs.quiet_end(1_000_000) == 2_000_000
    assert prefs.quiet_end(2_000_000) is None
    assert UserPreferences().quiet_end(1_000_000) is None


def test_a_stored_zone_tzdata_no_longer_knows_is_not_quiet_for_that_user_alone() -> None:
    from herald.preferences import _quiet_end

    broken = UserPreferences(time_zone="Gone/Away", dnd_until=2_000_000)
    assert _quiet_end(broken, 1_000_000) is None
    assert _quiet_end(UserPreferences(dnd_until=2_000_000), 1_000_000) == 2_000_000
