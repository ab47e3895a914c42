"""``tierstore demo``: the main job on the local stack, step by step (``run`` drives the parts).

Its own package, beside the command line rather than in it: the demo drives every part of
tierstore (store, server, client, sink), and only its thin command lives in ``tierstore.cli``.
"""
