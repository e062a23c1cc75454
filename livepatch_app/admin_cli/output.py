"""What a command prints: the server's JSON as JSON or YAML for scripts, or a
readable table / key-value listing for people. Only stdout carries results."""

import json

import click

FORMATS = ("table", "json", "yaml")
# Keys of a paginated answer, shown as a "Showing 1-100 of 250" line under a table.
PAGING = ("total", "limit", "offset")


def emit(fmt, data, *, columns=None, empty="Nothing to show.", text=None):
    """Prints `data` in `fmt`. For tables: `columns` picks and orders the columns of
    a list of objects; `text(data)` replaces the listing with a sentence."""
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif fmt == "yaml":
        import yaml  # only scripts that ask for YAML pay for loading it

        click.echo(yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True), nl=False)
    elif text is not None:
        click.echo(text(data) if callable(text) else text)
    else:
        click.echo(render(data, columns=columns, empty=empty))


def render(data, columns=None, empty="Nothing to show."):
    rows, extras = _rows(data)
    if rows is None:
        return _key_values(data) if isinstance(data, dict) else _cell(data)
    lines = [table(rows, columns) if rows else empty]
    page = {key: extras.pop(key) for key in PAGING if key in extras}
    extras = {key: value for key, value in extras.items() if value is not None}
    if extras:
        lines.append(_key_values(extras))
    if isinstance(page.get("total"), int) and page["total"] > len(rows):
        first = (page.get("offset") or 0) + 1
        lines.append(f"Showing {first}-{first + len(rows) - 1} of {page['total']}: "
                     "use --offset and --limit for the rest." if rows else f"{page['total']} in all.")
    return "\n".join(lines)


def _rows(data):
    """The list of objects in `data` (a list, or the one list inside an object), and
    the object's other scalar keys (totals, paging), or (None, None)."""
    if isinstance(data, list):
        return [_as_row(item) for item in data], {}
    if isinstance(data, dict):
        lists = [key for key, value in data.items() if isinstance(value, list)]
        if len(lists) == 1 and all(not isinstance(v, dict) for v in data.values()):
            key = lists[0]
            extras = {k: v for k, v in data.items() if k != key}
            return [_as_row(item) for item in data[key]], extras
    return None, None


def _as_row(item):
    return item if isinstance(item, dict) else {"value": item}


def table(rows, columns=None):
    """Rows as aligned columns: the `columns` the rows have (the rest stays for
    --format json), or every key when the rows have none of them."""
    order = [name for name in columns or [] if any(name in row for row in rows)]
    if not order:
        for name in (key for row in rows for key in row):
            if name not in order:
                order.append(name)
    header = [name.upper() for name in order]  # dashes kept: one word per column, for awk
    body = [[_cell(row.get(name), name) for name in order] for row in rows]
    widths = [max(len(line[i]) for line in [header] + body) for i in range(len(order))]
    return "\n".join("  ".join(value.ljust(width) for value, width in zip(line, widths)).rstrip()
                     for line in [header] + body)


def _key_values(data, indent=""):
    if not data:
        return f"{indent}(empty)"
    width = max(len(str(key)) for key in data)
    lines = []
    for key, value in data.items():
        if isinstance(value, dict) and value:
            lines.append(f"{indent}{key}:")
            lines.append(_key_values(value, indent + "  "))
        elif isinstance(value, list) and value and any(isinstance(v, dict) for v in value):
            lines.append(f"{indent}{key}:")
            lines.append("\n".join(indent + "  " + line for line in table([_as_row(v) for v in value]).split("\n")))
        else:
            lines.append(f"{indent}{str(key) + ':':<{width + 1}} {_cell(value)}")
    return "\n".join(lines)


# Byte counts read better as 3.0 MiB in a table (JSON keeps the exact number).
SIZE_COLUMNS = ("size", "bytes")


def _cell(value, column=None):
    if column in SIZE_COLUMNS and isinstance(value, int) and not isinstance(value, bool):
        return human_size(value)
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_cell(item) for item in value) if value else "-"
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def human_size(size):
    if not isinstance(size, (int, float)):
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


def emit_done(fmt, body, sentence):
    """A command that changes something: a sentence for people, the server's answer
    (or {} when it sent no body) for scripts."""
    emit(fmt, body if body is not None else {}, text=sentence)
