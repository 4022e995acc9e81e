"""Persistence: tables, migrations, bulk writes and reads. Start at `Store.open(url)`."""

from labelport.store.errors import Conflict, NotFound, StoreError
from labelport.store.plan import (
    INSTANCE_COLUMNS,
    Resolved,
    SequencePlan,
    WritePlan,
    WriteResult,
)
from labelport.store.store import Store

__all__ = [
    "INSTANCE_COLUMNS",
    "Conflict",
    "NotFound",
    "Resolved",
    "SequencePlan",
    "Store",
    "StoreError",
    "WritePlan",
    "WriteResult",
]
