"""The store: SQLAlchemy models, sessions, the repository and the schema version.

``make_engine`` + ``session_scope`` are the one session pattern; :class:`Store` holds the
idempotent operations of the pipeline; ``require_current`` checks the Alembic revision
(migrations live in ``monitor/migrations/``, shipped with the package).
"""

from __future__ import annotations

from monitor.store.models import Alert, Base, Delivery, Epoch, Product, Score, Target
from monitor.store.repository import Backoff, Store
from monitor.store.schema import current_revision, head_revision, require_current, upgrade
from monitor.store.session import make_engine, mask_url, session_scope

__all__ = [
    "Alert",
    "Backoff",
    "Base",
    "Delivery",
    "Epoch",
    "Product",
    "Score",
    "Store",
    "Target",
    "current_revision",
    "head_revision",
    "make_engine",
    "mask_url",
    "require_current",
    "session_scope",
    "upgrade",
]
