"""One module per command group; main.py adds them to the top-level group."""
