"""Small real servers on 127.0.0.1 for the credentials tests, and the pytest fixtures that run them.

Each server binds a free loopback port, serves from a background thread (or, for moto, a
subprocess), records what it received and stops at fixture teardown. The fixtures are in
``tests.servers.fixtures``, loaded by ``tests/conftest.py`` through ``pytest_plugins``.
"""
