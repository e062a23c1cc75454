"""The path a log line names for the current request. Client and machine paths
carry machine ids, which stay out of the log: such a path is logged as its route
template (/v1/client/<machine_id>/updates), also when the method was wrong (405:
the template the path matches with a method it allows), and as
`<prefix><unmatched>` when no route matches it at all."""

from flask import current_app, request
from werkzeug.exceptions import HTTPException

PRIVATE_PATH_PREFIXES = ("/v1/client/", "/api/machine/", "/api/machine-tokens", "/v1/admin/machines/")


def loggable_path():
    path = request.path
    prefix = next((p for p in PRIVATE_PATH_PREFIXES if path.startswith(p)), None)
    if prefix is None:
        return path
    if request.url_rule is not None:
        return request.url_rule.rule
    allowed = getattr(request.routing_exception, "valid_methods", None) or ()
    for method in allowed:
        try:
            rule, _ = current_app.url_map.bind_to_environ(request.environ).match(method=method, return_rule=True)
            return rule.rule
        except HTTPException:
            continue
    return prefix + "<unmatched>"
