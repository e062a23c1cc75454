"""Patch sync, downstream side: fetch what an upstream server (Canonical's, or
another instance of this server) offers to our sync token, verify it, and make
it visible in our first tier. The upstream side lives in api/sync.py."""
