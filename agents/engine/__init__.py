"""The run engine: plain Python that runs one agent job over the Messages API.

It must never import Django or the project's apps (an import-linter contract in
pyproject.toml enforces this), so it can be tested without a database.
"""
