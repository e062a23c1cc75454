"""livepatch-admin: the operator's command line, a client of the admin HTTP API only.

It never imports the server (beyond pure helpers such as patch-name parsing), so it
works against any server that speaks the HTTP API of docs/api.md, over haproxy or TLS."""
