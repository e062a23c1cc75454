"""Nagios checks through the nrpe subordinate (the `nrpe-external-master` relation).

The standard way of reactive charms: charmhelpers.contrib.charmsupport.nrpe
(charmhelpers 1.2.1, the wheelhouse's; read in its source):

- ``NRPE()`` takes ``nagios_context`` and ``nagios_servicegroups`` from config
  (empty servicegroups: the context), the Nagios host name from the
  ``nagios_hostname`` the nrpe charm publishes on the relation, else
  ``<nagios_context>-<unit with - for />``, and sets ``primary`` on every
  ``nrpe-external-master`` relation.
- ``add_check(shortname, description, check_cmd)``: the command must be a file in
  /usr/lib/nagios/plugins or /usr/local/lib/nagios/plugins (``Check._locate_cmd``;
  an absolute path is found as it is, since ``os.path.join`` keeps it); otherwise
  the check is written with an empty command.
- ``write()`` does nothing (logs) without a ``nagios`` user or /etc/nagios/nrpe.d,
  which the nrpe charm's nagios-nrpe-server package brings; else it writes
  /etc/nagios/nrpe.d/check_<shortname>.cfg (``command[check_<shortname>]=<cmd>``,
  a ``# servicegroups:`` header), /var/lib/nagios/export/
  service__<hostname>_check_<shortname>.cfg when that folder exists, restarts
  nagios-nrpe-server (not in update-status) and merges
  ``monitors: {monitors: {remote: {nrpe: {<shortname>: {command: check_<shortname>}}}}}``
  (YAML) into our unit's settings on the relation, which the nrpe charm passes on
  to Nagios.
- ``Check(...).remove(hostname)`` deletes both files of a check.

The checks run files/nagios/check_livepatch.py (standard library only: NRPE runs
it as the nagios user with the machine's python3), installed into PLUGIN_DIR.
"""

import os
import shutil

from charmhelpers.contrib.charmsupport import nrpe
from charmhelpers.core import hookenv, host

from . import network, paths

RELATION = "nrpe-external-master"
PLUGIN_DIR = "/usr/local/lib/nagios/plugins"  # on charmhelpers' search path (Check._locate_cmd)
PLUGIN = "check_livepatch.py"
NRPE_SERVICE = "nagios-nrpe-server"
# Intervals without a successful sync before the sync check warns / goes critical.
SYNC_WARN_INTERVALS = 2
SYNC_CRIT_INTERVALS = 3
SHORTNAMES = ("livepatch_service", "livepatch_status", "livepatch_schema", "livepatch_sync")


def plugin_path():
    return os.path.join(PLUGIN_DIR, PLUGIN)


def server_url(config=None):
    """Where this unit's server answers: the address it listens on (as the charm's own
    health check reaches it: network.local_address) and the configured port."""
    config = hookenv.config() if config is None else config
    bind = network.endpoint_addresses("website").bind
    listen = network.listen_address(bind, bool(config.get("listen_on_all_addresses")))
    host_ = network.local_address(listen)
    if ":" in host_:
        host_ = f"[{host_}]"
    return f"http://{host_}:{int(config.get('port') or 8080)}"


def checks(url, unit_name):
    """[(shortname, description, command)]; unit_name goes into the descriptions, as
    charmhelpers' add_init_service_checks does."""
    plugin = plugin_path()
    return [
        ("livepatch_service", f"Livepatch service running {{{unit_name}}}",
         f"{plugin} service --unit {paths.SERVICE}"),
        ("livepatch_status", f"Livepatch /debug/status healthy {{{unit_name}}}",
         f"{plugin} status --url {url}"),
        ("livepatch_schema", f"Livepatch database schema current {{{unit_name}}}",
         f"{plugin} schema --url {url}"),
        ("livepatch_sync", f"Livepatch last patch sync recent {{{unit_name}}}",
         f"{plugin} sync --url {url} --warn {SYNC_WARN_INTERVALS} --crit {SYNC_CRIT_INTERVALS}"),
    ]


def install_plugin():
    source = os.path.join(paths.charm_dir(), "files", "nagios", PLUGIN)
    os.makedirs(PLUGIN_DIR, mode=0o755, exist_ok=True)
    shutil.copyfile(source, plugin_path() + ".new")
    os.chmod(plugin_path() + ".new", 0o755)
    os.replace(plugin_path() + ".new", plugin_path())


def update():
    """Write the checks when the relation exists; remove them when it does not.
    Returns the checks written ([] when none)."""
    if not hookenv.relation_ids(RELATION):
        remove()
        return []
    install_plugin()
    compat = nrpe.NRPE()  # nagios_context, nagios_servicegroups, host name from the relation
    written = checks(server_url(), nrpe.get_nagios_unit_name(RELATION))
    for shortname, description, command in written:
        compat.add_check(shortname=shortname, description=description, check_cmd=command)
    compat.write()
    hookenv.log(f"nrpe: {len(written)} checks for Nagios host {compat.hostname} "
                f"(servicegroups {compat.nagios_servicegroups})")
    return written


def remove():
    """Delete our check files and the plugin (the relation is gone). No relation-set:
    charmhelpers' NRPE() would set `primary` on a relation that is going away."""
    found = False
    for shortname in SHORTNAMES:
        check = nrpe.Check(shortname, "", "check_disk")  # the command is not used to remove
        found = found or os.path.exists(check._get_check_filename())
        check.remove(None)
    if os.path.exists(plugin_path()):
        os.remove(plugin_path())
    if found:
        hookenv.log("nrpe: checks removed")
        host.service("try-restart", NRPE_SERVICE)  # NRPE forgets the commands
    return found
