"""The gallery's tables as every backend keeps them: the schema version, what each version added,
which columns are sealed, and what a sealed value is bound to.

Each backend writes its own SQL for these tables (``core.storage.sqlite``,
``core.storage.postgres``); this module is what they agree on.
"""

from __future__ import annotations

SCHEMA_VERSION = 5
ANCHORED_SINCE = 4  # the schema from which an encrypted gallery's history head is sealed
BOUND_SINCE = 5  # the schema from which a sealed value is bound to its row and owner, not only its column

# What the current schema must have; an older or newer shape is refused, not guessed at.
TABLES = {
    "people": {"id", "name", "name_key", "created", "note", "last_seen"},
    "models": {"id", "dimensions", "added"},
    "samples": {"id", "person_id", "chip", "quality", "source", "created", "masked"},
    "embeddings": {"sample_id", "model_id", "vector"},
    "negatives": {"id", "person_id", "chip", "quality", "source", "created"},
    "negative_embeddings": {"negative_id", "model_id", "vector"},
    "protection": {"id", "scheme", "key_id", "parameters", "wrapped_key"},
    "history": {"id", "at", "user", "program", "action", "subject", "detail", "link"},
}
# The schema version that added each table (a table not named here has been there since 1).
# An older file is read as it is (it has no negatives) and upgraded by its first write.
TABLE_SINCE = {"negatives": 2, "negative_embeddings": 2, "protection": 3, "history": 3}
COLUMN_SINCE = {("people", "last_seen"): 3, ("samples", "masked"): 4}

# Every column that holds biometric or identifying data, per table: sealed in an encrypted gallery.
SEALED_COLUMNS = {
    "people": ("name", "note"),
    "samples": ("chip", "source"),
    "embeddings": ("vector",),
    "negatives": ("chip", "source"),
    "negative_embeddings": ("vector",),
    "history": ("subject", "detail"),
}
TEXT_COLUMNS = {"name", "note", "source", "subject", "detail"}
# The tables whose rows get an id when inserted (the others are keyed by their owner's id).
ID_TABLES = ("people", "samples", "negatives", "history")
# What identifies a row of each table (a sealed value is bound to it), and the SQL that gives
# the person the row belongs to (NULL: nobody's).
ROW_KEYS = {"people": ("id",), "models": ("id",), "samples": ("id",), "negatives": ("id",),
            "embeddings": ("sample_id", "model_id"), "negative_embeddings": ("negative_id", "model_id"),
            "history": ("id",)}
OWNERS = {"people": "id", "models": "NULL", "samples": "person_id", "negatives": "person_id",
          "embeddings": "(SELECT person_id FROM samples WHERE samples.id = sample_id)",
          "negative_embeddings": "(SELECT person_id FROM negatives WHERE negatives.id = negative_id)",
          "history": "NULL"}
