"""`python -m livepatch_app.admin_cli` is the same tool as `livepatch-admin`."""

from .main import main

main()
