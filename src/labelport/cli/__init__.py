"""The `labelport` command line: `app.py` registers every command; one module per command
group (check, server, projects, imports, worker, users, convert, evaluate); `common.py` holds
what they share."""

import gc

# The command's modules and their libraries make ~90,000 objects that live as long as the
# process. Collected while they are made, they were walked again and again: ~30 ms of every
# start (~11% of the imports). Frozen once made, no later collection walks them, and the
# import workers forked from this process do not touch (and so copy) their pages to do so.
_was_enabled = gc.isenabled()
gc.disable()
try:
    from labelport.cli.app import app, main
finally:
    gc.freeze()
    if _was_enabled:
        gc.enable()

__all__ = ["app", "main"]
