"""Nagios checks (lib/charms/livepatch/nrpe.py) over the nrpe-external-master relation.

No interface layer: as charmhelpers' nrpe module suggests, the checks are
(re)written in the relation's joined/changed hooks (the nrpe charm publishes the
Nagios host name there) and on config-changed (nagios_context,
nagios_servicegroups, port) and upgrade-charm (a new plugin), and removed when
the relation is broken.
"""

from charms.reactive import hook

from charms.livepatch import nrpe


@hook("nrpe-external-master-relation-joined", "nrpe-external-master-relation-changed",
      "config-changed", "upgrade-charm")
def write_nrpe_checks():
    nrpe.update()


@hook("nrpe-external-master-relation-broken")
def remove_nrpe_checks():
    nrpe.remove()
