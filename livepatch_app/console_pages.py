"""What the console's pages show, gathered through the data-access modules (no SQL
here) into plain dicts for the templates; and the small formatting the templates use
(relative times, sizes). api/console.py holds the views."""

import re
from datetime import datetime, timedelta, timezone

from . import __version__, context
from .api.common import format_time
from .api.machine_fields import PATCH_STATES
from .data import fleet, machines, patches, reports, sync_runs, tiers
from .db import DatabaseUnavailable

# The bar's order: the good states first, the failures last; every state the server knows.
STATE_ORDER = ("applied", "nothing-to-apply", "applied-with-bug", "kernel-upgrade-required", "unapplied",
               "needs-check", "check-failed", "apply-failed", "unknown")
assert set(STATE_ORDER) == set(PATCH_STATES)
TOP_KERNELS = 10
SYNC_RUNS = 5
PAGE_SIZE = 50
PATCHES_PER_TIER = 200


_PAGE_RE = re.compile(r"[0-9]{1,7}")


class BadQuery(ValueError):
    """A query parameter the page cannot take: its message says which and why."""


def state_key(state):
    """A machine's patch state as the console counts it: one that never reported one is
    counted as unknown (as the admin API's patch-health report counts it)."""
    return state if state in PATCH_STATES else "unknown"


def overview(config):
    stale_after = config.console_stale_after
    with context.db().transaction() as cur:
        tier_rows = tiers.list_all(cur)
        counts = fleet.tier_state_counts(cur)
        newest = patches.newest_versions(cur)
        stale = fleet.stale_counts(cur, stale_after)
        kernels = fleet.kernel_counts(cur)
        runs = sync_runs.recent(cur, SYNC_RUNS)
        cleanup = reports.last_cleanup_run(cur)
    by_tier = {}
    for row in counts:
        states = by_tier.setdefault(row["tier_id"], {})
        key = state_key(row["patch_state"])
        states[key] = states.get(key, 0) + row["machines"]
    tier_list = []
    for tier in tier_rows:
        states = by_tier.get(tier["id"], {})
        total = sum(states.values())
        tier_list.append({
            "name": tier["name"],
            "newest": newest.get(tier["id"]),
            "machines": total,
            "stale": stale.get(tier["id"], 0),
            "states": [(state, states[state]) for state in STATE_ORDER if states.get(state)],
        })
    fleet_total = sum(tier["machines"] for tier in tier_list)
    return {
        "tiers": tier_list,
        "total": fleet_total,
        "failing": sum(dict(tier["states"]).get("apply-failed", 0) for tier in tier_list),
        "stale": sum(stale.values()),
        "stale_after": config.console_stale_after,
        "kernels": kernels[:TOP_KERNELS],
        "kernel_total": len(kernels),
        "sync": _sync(config, runs),
        "health": _health(cleanup),
    }


def _sync(config, runs):
    sync = {"enabled": config.patch_sync_enabled, "upstream": config.sync_upstream,
            "interval": config.sync_interval, "leader": config.leader, "runs": runs, "next": None,
            "token": bool(config.sync_token), "overdue": False}
    if config.patch_sync_enabled and runs:  # runs are shared: the leader's schedule, seen from any unit
        last = runs[0]
        sync["next"] = (last["finished_at"] or last["started_at"]) + timedelta(seconds=config.sync_interval)
        sync["overdue"] = last["result"] != "running" and sync["next"] <= datetime.now(timezone.utc)
    return sync


def _health(cleanup):
    if cleanup is not None:
        try:
            cleanup = {**cleanup, "finished": datetime.fromisoformat(cleanup["finished"].replace("Z", "+00:00"))}
        except ValueError:
            cleanup = None
    try:
        status = context.schema_gate().status()
    except DatabaseUnavailable:
        status = None
    return {"version": __version__, "database": status is not None,
            "schema_current": status.current if status else None,
            "schema_required": status.required if status else None,
            "upgrade_required": bool(status and status.upgrade_required),
            "cleanup": cleanup}


def _choice(args, name, allowed):
    value = args.get(name) or None
    if value is not None and value not in allowed:
        raise BadQuery(f"{name} must be one of: {', '.join(allowed)}")
    return value


def _page_number(args):
    text = args.get("page") or "1"
    # ASCII digits only: str.isdigit() takes "²" and other digits int() refuses.
    if not _PAGE_RE.fullmatch(text) or not 1 <= int(text) <= 1_000_000:
        raise BadQuery("page must be a whole number from 1")
    return int(text)


def machine_filters(args, tier_names):
    """The machines page's filters from the query string -> dict; BadQuery for a value
    the page cannot take (an unknown tier, state or sort, a page that is no number)."""
    kernel = (args.get("kernel") or "").strip() or None
    if kernel is not None and len(kernel) > 200:
        raise BadQuery("kernel is at most 200 characters")
    return {
        "tier": _choice(args, "tier", tier_names),
        "kernel": kernel,
        "state": _choice(args, "state", STATE_ORDER),
        "stale": args.get("stale") == "1",
        "sort": _choice(args, "sort", ("last_check_in", "-last_check_in")) or "-last_check_in",
        "page": _page_number(args),
    }


def machine_page(config, args):
    with context.db().transaction() as cur:
        tier_rows = tiers.list_all(cur)
        names = tuple(t["name"] for t in tier_rows)
        filters = machine_filters(args, names)
        tier_id = next((t["id"] for t in tier_rows if t["name"] == filters["tier"]), None)
        state = filters["state"]
        rows, total = machines.search(
            cur, PAGE_SIZE, (filters["page"] - 1) * PAGE_SIZE, order=filters["sort"], tier_id=tier_id,
            kernel=filters["kernel"], state=state, unreported_too=state == "unknown",
            stale_after=config.console_stale_after if filters["stale"] else None)
    pages = max(1, -(-total // PAGE_SIZE))
    stale_before = datetime.now(timezone.utc) - timedelta(seconds=config.console_stale_after)
    for row in rows:
        row["stale"] = (row["last_check_in"] or row["created_at"]) < stale_before
    return {"filters": filters, "tiers": names, "states": STATE_ORDER, "machines": rows, "total": total,
            "page": filters["page"], "pages": pages, "page_size": PAGE_SIZE,
            "any_filter": any(filters[k] for k in ("tier", "kernel", "state", "stale"))}


def patch_page(args):
    with context.db().transaction() as cur:
        tier_rows = tiers.list_all(cur)
        wanted = _choice(args, "tier", tuple(t["name"] for t in tier_rows))
        sections = []
        for tier in tier_rows:
            if wanted and tier["name"] != wanted:
                continue
            rows, total = patches.list_filtered(cur, PATCHES_PER_TIER, 0, tier_id=tier["id"])
            sections.append({"name": tier["name"], "patches": rows, "total": total})
    return {"sections": sections, "tier": wanted, "tiers": [t["name"] for t in tier_rows],
            "limit": PATCHES_PER_TIER}


# --- formatting for the templates


def exact_time(value):
    """RFC 3339 in UTC, as the API shows times ('' for none)."""
    return format_time(value) or ""


def ago(value, now=None):
    """'3 min ago', '2 h ago', '5 days ago', 'in 10 min'; 'never' for None."""
    if value is None:
        return "never"
    now = now or datetime.now(timezone.utc)
    seconds = (now - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        text = "just now" if not future else "in less than a minute"
        return text
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            count = int(seconds // size)
            label = unit + ("s" if unit == "day" and count != 1 else "")
            text = f"{count} {label}"
            return f"in {text}" if future else f"{text} ago"
    return ""  # not reached


def duration(seconds):
    """48h -> '2 days', 90 min -> '90 min'."""
    if seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day" + ("s" if days != 1 else "")
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def size(nbytes):
    """1536 -> '1.5 KiB'."""
    value = float(nbytes or 0)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return ""  # not reached


def number(value):
    """12345 -> '12,345'."""
    return f"{value:,}"
