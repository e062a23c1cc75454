"""Handlers of the rtest charm: charmhelpers calls as a reactive charm makes them."""
import json
import os
import subprocess

from charmhelpers.core import hookenv, host
from charms.reactive import (clear_flag, endpoint_from_flag, get_flags, hook, set_flag, when,
                             when_not)

UNIT_FILE = """[Unit]
Description=rtest service

[Service]
User=nobody
ExecStart=/usr/bin/python3 -m http.server --bind {address} {port} --directory /etc/livepatch
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""


def _config_flags():
    """config.changed[.<key>] (what layer:basic would provide; this charm has no base layer)."""
    cfg = hookenv.config()
    for key in cfg:
        if cfg.changed(key):
            set_flag("config.changed")
            set_flag("config.changed." + key)


def _clear_config_flags():
    for flag in get_flags():
        if flag.startswith("config.changed"):
            clear_flag(flag)


hookenv.atstart(_config_flags)
hookenv.atexit(_clear_config_flags)


def record(**data):
    data["hook"] = hookenv.hook_name()
    with open(os.path.join(hookenv.charm_dir(), "rtest.jsonl"), "a") as f:
        f.write(json.dumps(data, sort_keys=True, default=str) + "\n")


@when_not("rtest.installed")
def install():
    hookenv.status_set("maintenance", "installing")
    host.mkdir("/etc/livepatch", perms=0o755)
    host.write_file("/etc/livepatch/index.html", b"rtest\n", perms=0o644)
    record(installed=True, codename=host.lsb_release()["DISTRIB_CODENAME"],
           systemd=host.init_is_systemd(), juju_version=hookenv.juju_version())
    set_flag("rtest.installed")


@hook("leader-elected")
def elected():
    hookenv.leader_set({"shared": "from-" + hookenv.local_unit()})


@hook("leader-settings-changed")
def leader_changed():
    record(leader=hookenv.leader_get())


@when("rtest.installed", "config.changed")
def configure():
    cfg = hookenv.config()
    address = hookenv.network_get("api")["bind-addresses"][0]["addresses"][0]["value"]
    host.write_file("/etc/systemd/system/rtest.service",
                    UNIT_FILE.format(address=address, port=cfg["port"]).encode())
    subprocess.check_call(["systemctl", "daemon-reload"])
    host.service_restart("rtest")
    hookenv.open_port(cfg["port"])
    record(config=dict(cfg), greeting_changed=cfg.changed("greeting"),
           running=host.service_running("rtest"), address=address,
           private_ip=hookenv.unit_private_ip(), is_leader=hookenv.is_leader(),
           leader=hookenv.leader_get())


@when("endpoint.api.joined")
def publish():
    api = endpoint_from_flag("endpoint.api.joined")
    api.publish(hookenv.config("greeting"), hookenv.local_unit(), hookenv.is_leader())


@when("endpoint.backend.changed")
def received():
    backend = endpoint_from_flag("endpoint.backend.changed")
    units, apps = backend.seen()
    record(received=units, received_app=apps,
           ingress=[hookenv.ingress_address(rid=r.relation_id, unit=u.unit_name)
                    for r in backend.relations for u in r.joined_units])
    clear_flag("endpoint.backend.changed")


@when("rtest.installed")
def ready():
    hookenv.status_set("active", "rtest says %s" % hookenv.config("greeting"))
