"""The API server: users with bearer tokens, the namespace and data proxy over HTTP, credential vending.

    tierstore serve [-c server.yaml] [--host H] [--port P]

Layers, each depending only on the ones below it and on the namespace and credentials parts:
``config`` (the server's own keys), ``users`` (tokens and their hashes), ``policies`` (session
policies), ``vending`` (STS, cache, single flight), ``metrics`` and ``audit``; what every route
shares (``state``, ``authentication``, ``request_inputs``, ``errors``, ``loop_or_thread``,
``byte_ranges``, ``request_metrics``); ``api`` (the JSON API's routes, one module per resource
family); ``app`` (the routes assembled into the ASGI app) and ``run`` (building the server and
uvicorn).
"""
