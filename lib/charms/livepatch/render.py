"""Rendering: the server's YAML config and the systemd unit, from Jinja templates.

Pure functions: settings and facts in, text out. Writing the files and deciding
on restarts happens elsewhere (system.py, unit.py).
"""

import os

import jinja2

from . import paths, validation, website

CONFIG_TEMPLATE = "livepatch.yaml.j2"
UNIT_TEMPLATE = "livepatch.service.j2"
STOP_MARGIN = 15  # seconds systemd waits past the drain (jobs, logs, exit) before SIGKILL


def _environment(templates_dir):
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        undefined=jinja2.StrictUndefined,  # a missing key is a bug, not an empty value
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def config_context(settings, *, database_url, bind_address, leader, deployment_id, resource_token, unit_name,
                   proxy_addresses=()):
    """Every value the server config template needs.

    settings: the output of validation.validate(). The sync token is the
    operator's sync_token if set, else the resource token from leader data.
    proxy_addresses: the addresses of the proxies related on website, trusted
    besides the operator's trusted_proxies.
    """
    context = dict(settings)
    trusted = [item for item in settings["trusted_proxies"].split(",") if item]
    trusted += [address for address in website.proxy_addresses(proxy_addresses) if address not in trusted]
    context.update(
        trusted_proxies=",".join(trusted),
        database_url=database_url,
        bind_address=bind_address,
        leader=bool(leader),
        deployment_id=deployment_id or "",
        sync_token=settings["sync_token"] or resource_token or "",
        patch_cache_path=paths.CACHE_DIR,
        unit_name=unit_name,
        group=paths.GROUP,
    )
    return context


def unit_context(settings, *, python, unit_name):
    """Every value the systemd unit template needs."""
    writable = []
    if settings["patchstore"] in ("filesystem", "file") and not _inside(settings["filestore_path"], paths.STATE_DIR):
        writable.append(settings["filestore_path"])
    return {
        "python": python,
        "config_file": paths.CONFIG_FILE,
        "user": paths.USER,
        "group": paths.GROUP,
        "port": settings["port"],
        "writable_paths": writable,
        "stop_timeout": stop_timeout(settings),
        "unit_name": unit_name,
    }


def stop_timeout(settings):
    """systemd's TimeoutStopSec: the server's drain plus a margin."""
    return validation.parse_duration(settings["shutdown_drain_timeout"]) + STOP_MARGIN


def _inside(path, folder):
    path, folder = os.path.normpath(path), os.path.normpath(folder)
    return path == folder or path.startswith(folder + os.sep)


def server_config(context, templates_dir):
    return _environment(templates_dir).get_template(CONFIG_TEMPLATE).render(context)


def systemd_unit(context, templates_dir):
    return _environment(templates_dir).get_template(UNIT_TEMPLATE).render(context)
