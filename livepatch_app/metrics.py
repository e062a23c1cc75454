"""A small Prometheus text-format registry: counters, gauges and histograms with
labels. Thread-safe; rendered by GET /metrics. Counters keep the names given here
(the text format adds no `_total`). The gauges of database, schema and sync state
are set as /metrics is rendered (api/ops.py), from the database."""

import threading

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# Label values of the request histogram come from closed sets, never from what a
# client sends: these methods (else "other"), route templates (else "unmatched"),
# status codes.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"})


def _labels(names, values):
    if not names:
        return ""
    pairs = ",".join('%s="%s"' % (n, str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n"))
                     for n, v in zip(names, values))
    return "{" + pairs + "}"


class Counter:
    def __init__(self, name, help_text, labels=()):
        self.name, self.help, self.label_names = name, help_text, tuple(labels)
        self._values = {}
        self._lock = threading.Lock()

    def inc(self, amount=1, **labels):
        key = tuple(labels.get(n, "") for n in self.label_names)
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def value(self, **labels):
        return self._values.get(tuple(labels.get(n, "") for n in self.label_names), 0)

    def render(self):
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        with self._lock:
            items = sorted(self._values.items())
        if not self.label_names and not items:
            items = [((), 0)]
        lines += [f"{self.name}{_labels(self.label_names, k)} {v}" for k, v in items]
        return lines


class Gauge:
    """A value that goes up and down; a series not set (or cleared) is not rendered."""

    def __init__(self, name, help_text, labels=()):
        self.name, self.help, self.label_names = name, help_text, tuple(labels)
        self._values = {}
        self._lock = threading.Lock()

    def set(self, value, **labels):
        key = tuple(labels.get(n, "") for n in self.label_names)
        with self._lock:
            self._values[key] = value

    def clear(self):
        with self._lock:
            self._values.clear()

    def value(self, **labels):
        return self._values.get(tuple(labels.get(n, "") for n in self.label_names))

    def render(self):
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge"]
        with self._lock:
            items = sorted(self._values.items())
        lines += [f"{self.name}{_labels(self.label_names, k)} {v}" for k, v in items]
        return lines


class Histogram:
    def __init__(self, name, help_text, labels=(), buckets=_BUCKETS):
        self.name, self.help, self.label_names, self.buckets = name, help_text, tuple(labels), buckets
        self._series = {}  # key -> [bucket counts..., sum, count]
        self._lock = threading.Lock()

    def observe(self, value, **labels):
        key = tuple(labels.get(n, "") for n in self.label_names)
        with self._lock:
            series = self._series.setdefault(key, [0] * len(self.buckets) + [0.0, 0])
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    series[i] += 1
            series[-2] += value
            series[-1] += 1

    def render(self):
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        with self._lock:
            items = sorted((k, list(v)) for k, v in self._series.items())
        names = self.label_names + ("le",)
        for key, series in items:
            for bound, count in zip(self.buckets, series):
                lines.append(f"{self.name}_bucket{_labels(names, key + (bound,))} {count}")
            lines.append(f"{self.name}_bucket{_labels(names, key + ('+Inf',))} {series[-1]}")
            lines.append(f"{self.name}_sum{_labels(self.label_names, key)} {series[-2]}")
            lines.append(f"{self.name}_count{_labels(self.label_names, key)} {series[-1]}")
        return lines


class Metrics:
    """Every metric the server exports, one instance per app."""

    def __init__(self):
        self.requests = Histogram("livepatch_server_http_request_duration_seconds",
                                  "HTTP request duration by handler, method and status code",
                                  ("handler", "method", "code"))
        self.overload = Counter("livepatch_server_httpgovernor_request_overload",
                                "Requests refused with 503 because the server was at its concurrency and burst limits")
        self.downloads = Counter("livepatch_server_patch_downloads_total", "Patch files served", ("status",))
        self.download_bytes = Counter("livepatch_server_patch_download_bytes_total", "Patch bytes served")
        self.cache_hits = Counter("livepatch_server_patch_cache_hits", "Patch cache hits")
        self.cache_misses = Counter("livepatch_server_patch_cache_misses", "Patch cache misses")
        self.cache_errors = Counter("livepatch_server_patch_cache_errors_total",
                                    "Patch cache failures by stage (open, write, verify, install); "
                                    "the download was served from the store", ("stage",))
        self.db_errors = Counter("livepatch_server_database_errors_total", "Requests that failed because the database was unavailable")
        self.check_ins = Counter("livepatch_patch_ping_events", "Client check-ins", ("patch_state", "tier"))
        self.sync_runs = Counter("livepatch_server_sync_runs_total", "Patch sync runs by result", ("result",))
        self.sync_bytes = Counter("livepatch_server_sync_bytes_total", "Bytes fetched from the upstream server")
        self.sync_patches = Counter("livepatch_server_sync_patches_total", "Patches added by sync")
        self.contracts_errors = Counter("livepatch_server_contracts_token_error_count", "Failed contract token checks")
        # Set as /metrics is rendered (api/ops.py): the state now, as the database holds it.
        self.database_up = Gauge("livepatch_server_database_up",
                                 "1 if the server reached its database for this scrape, else 0")
        self.schema_upgrade_required = Gauge("livepatch_server_schema_upgrade_required",
                                             "1 while the database schema is older than the code (the API answers "
                                             "503 until the schema upgrade runs), else 0; absent if the database "
                                             "is unreachable")
        self.sync_enabled = Gauge("livepatch_server_sync_enabled", "1 if patch sync is enabled (patch_sync_enabled)")
        self.sync_interval = Gauge("livepatch_server_sync_interval_seconds",
                                   "The sync interval (sync_interval); absent when sync is disabled")
        self.sync_last_run_success = Gauge("livepatch_server_sync_last_run_success",
                                           "1 if the last finished sync run (of any unit) succeeded, 0 if it failed; "
                                           "absent before the first finished run or when sync is disabled")
        self.sync_last_success = Gauge("livepatch_server_sync_last_success_timestamp_seconds",
                                       "Unix time the last successful sync run (of any unit) finished; absent "
                                       "before the first success or when sync is disabled")

    def observe_request(self, seconds, rule, method, status):
        """One answered request; rule is the matched route template, or None."""
        self.requests.observe(seconds, handler=rule or "unmatched",
                              method=method if method in HTTP_METHODS else "other",
                              code=status if 100 <= status <= 599 else "other")

    def render(self):
        lines = []
        for metric in vars(self).values():
            lines += metric.render()
        return "\n".join(lines) + "\n"
