"""pre-commit hooks, one module each with ``main(argv=None) -> int`` (id == script == module).

Hooks run on every commit, so they import only the standard library and the stdlib-only
parts of pytest-mlci; ``tests/test_precommit_hooks.py`` checks that in a fresh process.
"""
