"""The JSON API's routes, one module per resource family.

``health`` (liveness, readiness, metrics, this API's description; no token), ``whoami``,
``mounts``, ``fs`` (stat, ls and the namespace's other operations), ``data`` (the streaming
data proxy) and ``credentials`` (vending). What the routes share with the server's other
protocols (its state, authentication, request inputs, error answers) lives beside this package,
in ``tierstore.server``; ``tierstore.server.app`` lists the routes.
"""
