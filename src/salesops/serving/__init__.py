"""Serving: the KServe model server, its prediction log, local deployment, and the client.

Modules are imported explicitly by their users: `predictor`, `server` and `scorer` load
kserve, mlflow or feast; `deployment`, `client` and `entities` stay light, so the CLI can
use them without paying for those imports.
"""
