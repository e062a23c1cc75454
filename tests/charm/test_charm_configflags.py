"""The config.* flags the hook bootstrap sets for the reactive handlers."""

from charms.livepatch.configflags import defaults, flag_states
from charmtest import ROOT


def test_defaults_come_from_config_yaml():
    option_defaults = defaults(ROOT)
    assert option_defaults["port"] == 8080
    assert option_defaults["url_template"] == ""


def test_changed_set_and_default_flags():
    option_defaults = {"port": 8080, "url_template": "", "log_level": "info"}
    current = {"port": 9000, "url_template": "", "log_level": "info"}
    states = flag_states(current, changed={"port"}, option_defaults=option_defaults)
    assert states["config.changed"] is True
    assert states["config.changed.port"] is True
    assert "config.changed.url_template" not in states  # cleared at hook end, not at start
    assert states["config.set.port"] is True
    assert states["config.set.url_template"] is False
    assert states["config.default.port"] is False
    assert states["config.default.log_level"] is True


def test_nothing_changed_sets_no_changed_flag():
    states = flag_states({"port": 8080}, changed=set(), option_defaults={"port": 8080})
    assert "config.changed" not in states
    assert states == {"config.set.port": True, "config.default.port": True}
