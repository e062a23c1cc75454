"""JSON log lines on stdout. Nothing secret is ever passed to a logger: tokens,
passwords and DSNs are kept out at the call sites; `redact` is a last guard."""

import json
import logging
import re
import sys
import time

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
           "warning": logging.WARNING, "error": logging.ERROR}
_SECRET_RES = (
    re.compile(r"(?i)(password\s*[=:]\s*|bearer\s+|basic\s+)([^\s'\",]+)"),
    re.compile(r"(://[^:/@\s]*:)([^\s@/]+)(?=@)"),  # user:password@ in URLs
)


def redact(text):
    for pattern in _SECRET_RES:
        text = pattern.sub(lambda m: m.group(1) + "***", text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + "Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in getattr(record, "fields", {}).items():
            entry[key] = value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def setup_logging(level="info", stream=None):
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS.get(level, logging.INFO))
    # waitress logs queue warnings on its own logger; keep them, as JSON.
    logging.getLogger("waitress.queue").setLevel(logging.WARNING)


def log_fields(logger, level, message, **fields):
    logger.log(level, message, extra={"fields": fields})
