"""The one exception the commands raise: a sentence for the user and an exit code.

Exit codes (documented in docs/admin-cli.md, stable for scripts):
  1  the server refused the request (400, 403, 404, 409, 413, 503, ...)
  2  bad usage (a missing argument, no server URL, an unreadable file)
  3  the server could not be reached (connection refused, DNS, timeout, TLS)
  4  authentication: not logged in, session expired or revoked, wrong password
"""

SERVER_REFUSED = 1
USAGE = 2
UNREACHABLE = 3
AUTH = 4


class CLIError(Exception):
    def __init__(self, message, exit_code=SERVER_REFUSED):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
