"""The tables of docs/design.md ("Data"), in SQLAlchemy Core. Alembic migrations create them.

Changing a table here needs a new migration in `migrations/versions/`; `tests/store/test_schema.py`
fails while the two disagree.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from labelport.store.coltypes import ID, JSONText, UTCDateTime

# Stable constraint names, so migrations can refer to them on both databases.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Options some indexes have on one database only (sqlite_where=, postgresql_ops=, ...). They are
# given to the indexes once an engine of that database is made (`add_dialect_options`, called by
# store/database.py): named in Index() they would load that database's whole SQLAlchemy dialect
# when this module is imported, in every process whichever database it uses (PostgreSQL's took
# ~50 ms of each CLI start on SQLite). The migrations create the indexes with these options.
_DIALECT_OPTIONS: list[tuple[Index, dict[str, Any]]] = []


def _index(name: str | None, *columns: str, unique: bool = False, **options: Any) -> Index:
    index = Index(name, *columns, unique=unique)
    _DIALECT_OPTIONS.append((index, options))
    return index


def dialect_options() -> list[tuple[Index, dict[str, Any]]]:
    """Each index with options of some database's own, and those options."""
    return list(_DIALECT_OPTIONS)


def add_dialect_options(dialect: str) -> None:
    """Give the indexes their options on `dialect` ("sqlite", "postgresql"); again, the same."""
    prefix = f"{dialect}_"
    for index, options in _DIALECT_OPTIONS:
        for key, value in options.items():
            if key.startswith(prefix):
                index.dialect_kwargs[key] = value


ROLES = ("admin", "editor", "viewer")
ATTRIBUTE_KINDS = ("select", "multiple_select", "radio", "text", "slider", "date", "time", "tree")
# `rejected`: a packet refused at submit (HTTP 422), kept as a record of what was refused; it
# stored nothing and holds no idempotency key (see docs/imports.md).
IMPORT_STATUSES = (
    "queued", "fetching", "processing", "writing", "success", "failed", "rejected",
)  # fmt: skip
TERMINAL_STATUSES = ("success", "failed", "rejected")
IMPORT_MODES = ("create", "update", "update_with_existing")
BATCH_STATUSES = ("queued", "running", "success", "partial", "failed")
BATCH_TERMINAL_STATUSES = ("success", "partial", "failed")
ON_ERROR = ("reject", "skip_instances")
MEDIA_MODES = ("copy", "reference")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _fk(target: str, ondelete: str = "CASCADE") -> ForeignKey:
    return ForeignKey(target, ondelete=ondelete)


# What sent an import or a batch ("api", "labelport import", a caller's own word).
SOURCE_CHARS = 32

project = Table(
    "project",
    metadata,
    Column("id", ID, primary_key=True),
    Column("string_id", String(255), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

api_key = Table(
    "api_key",
    metadata,
    Column("id", ID, primary_key=True),
    Column("client_id", String(255), nullable=False, unique=True),
    Column("secret_hash", Text, nullable=False),
    Column("role", String(16), nullable=False),
    Column("project_id", ID, _fk("project.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint(_one_of("role", ROLES), name="role"),
)

label_schema = Table(
    "label_schema",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, _fk("project.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("project_id", "name"),
    # At most one default schema per project.
    _index(
        "uq_label_schema_default",
        "project_id",
        unique=True,
        sqlite_where=text("is_default"),
        postgresql_where=text("is_default"),
    ),
)

label = Table(
    "label",
    metadata,
    Column("id", ID, primary_key=True),
    Column("schema_id", ID, _fk("label_schema.id"), nullable=False),
    Column("project_id", ID, _fk("project.id"), nullable=False, index=True),
    Column("name", String(255), nullable=False),
    # `#rrggbb` a person chose; NULL: the default colour of the label's place (labelport.palette)
    Column("colour", String(32)),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("schema_id", "name"),
)

attribute_group = Table(
    "attribute_group",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, _fk("project.id"), nullable=False, index=True),
    Column("schema_id", ID, _fk("label_schema.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("prompt", Text),
    Column("min_value", Float),
    Column("max_value", Float),
    Column("is_root", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("schema_id", "name"),
    CheckConstraint(_one_of("kind", ATTRIBUTE_KINDS), name="kind"),
)

attribute_group_label = Table(
    "attribute_group_label",
    metadata,
    Column("group_id", ID, _fk("attribute_group.id"), primary_key=True),
    Column("label_id", ID, _fk("label.id"), primary_key=True, index=True),
)

attribute_option = Table(
    "attribute_option",
    metadata,
    Column("id", ID, primary_key=True),
    Column("group_id", ID, _fk("attribute_group.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("display_name", String(255)),
    Column("parent_id", ID, _fk("attribute_option.id"), index=True),
    Column("ordinal", Integer, nullable=False, default=0),
    # Tree options repeat names on different branches, so the name is unique per parent only.
    UniqueConstraint("group_id", "parent_id", "name"),
)

directory = Table(
    "directory",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, _fk("project.id"), nullable=False),
    Column("nickname", String(255), nullable=False),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("project_id", "nickname"),
    _index(
        "uq_directory_default",
        "project_id",
        unique=True,
        sqlite_where=text("is_default"),
        postgresql_where=text("is_default"),
    ),
)

file = Table(
    "file",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, _fk("project.id"), nullable=False),
    Column("directory_id", ID, _fk("directory.id"), nullable=False),
    Column("media_type", String(32), nullable=False),
    Column("original_filename", Text),
    Column("blob_key", Text),
    Column("sha256", String(64)),
    Column("size", ID),
    Column("width", Integer),
    Column("height", Integer),
    Column("frame_count", Integer),
    Column("fps", Float),
    Column("duration", Float),
    Column("tokens", JSONText),
    Column("token_count", Integer),
    Column("point_count", ID),
    Column("bounds", JSONText),
    Column("parent_file_id", ID, _fk("file.id")),
    Column("ordinal", Integer),
    Column("source_url", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "project_id", "directory_id", "id"),
    Index(None, "project_id", "sha256"),
    UniqueConstraint("parent_file_id", "ordinal"),
)

# Many packets sent as one stream (NDJSON). Each line becomes an import of its own (below,
# `batch_id` + `batch_line`), so everything that lists or shows imports keeps working; the batch
# keeps what belongs to the whole stream.
batch = Table(
    "batch",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, _fk("project.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("on_error", String(32), nullable=False),
    Column("media", String(16), nullable=False),
    Column("source", String(SOURCE_CHARS)),
    Column("file_count", Integer, nullable=False),
    Column("body_blob_key", Text),
    # {line: import id} of lines whose idempotency key an earlier import already had
    Column("duplicates", JSONText),
    Column("error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Index(None, "project_id", "created_at"),
    CheckConstraint(_one_of("status", BATCH_STATUSES), name="status"),
    CheckConstraint(_one_of("on_error", ON_ERROR), name="on_error"),
    CheckConstraint(_one_of("media", MEDIA_MODES), name="media"),
)

import_ = Table(
    "import",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, _fk("project.id"), nullable=False),
    Column("file_id", ID, _fk("file.id", "SET NULL"), index=True),
    Column("directory_id", ID, _fk("directory.id", "SET NULL")),
    Column("source", String(SOURCE_CHARS)),
    Column("media_type", String(32)),
    Column("mode", String(32), nullable=False, default="create"),
    Column("status", String(16), nullable=False, default="queued"),
    Column("percent", Float, nullable=False, default=0.0),
    Column("counts", JSONText),
    Column("problems", JSONText),
    Column("warnings", JSONText),
    Column("problem_count", Integer, nullable=False, default=0),
    Column("idempotency_key", String(255)),
    Column("packet_blob_key", Text),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_by", String(255)),
    Column("claimed_at", UTCDateTime),
    Column("heartbeat_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("error", Text),
    # A batch's line: its packet is bytes [packet_offset, +packet_length) of packet_blob_key.
    # No foreign key, like instance: ids are written by the code that created the batch.
    Column("batch_id", ID),
    Column("batch_line", Integer),
    Column("packet_offset", ID),
    Column("packet_length", ID),
    # The media as sent (migration 0008): its file name, and its URL when it came by one.
    Column("media_name", String(255)),
    Column("media_url", Text),
    # A rejected packet's idempotency key, shown but not reserved (idempotency_key stays NULL):
    # the same key may still succeed.
    Column("rejected_key", String(255)),
    # One key, one import (NULL keys never collide: imports without a key are never
    # deduplicated). The same index finds keys by prefix (find_latest_import_by_key_stem) in
    # any collation: on PostgreSQL with the pattern operators, whose equality is the same.
    _index(
        None,
        "project_id",
        "idempotency_key",
        unique=True,
        postgresql_ops={"idempotency_key": "varchar_pattern_ops"},
    ),
    Index(None, "project_id", "created_at"),
    # The next queued import of each project in one index probe (the fair claim). Status first:
    # an index led by project_id alone would compete with the key-prefix one above. It serves
    # every query that filters on status: a (status, created_at) one too was one more entry to
    # write at every change of an import's status (dropped by migration 0010).
    Index(None, "status", "project_id", "created_at", "id"),
    Index(None, "batch_id", "batch_line", unique=True),
    CheckConstraint(_one_of("status", IMPORT_STATUSES), name="status"),
    CheckConstraint(_one_of("mode", IMPORT_MODES), name="mode"),
)

model = Table(
    "model",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, _fk("project.id"), nullable=False),
    Column("reference", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("project_id", "reference"),
)

model_run = Table(
    "model_run",
    metadata,
    Column("id", ID, primary_key=True),
    Column("model_id", ID, _fk("model.id"), nullable=False),
    Column("reference", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("model_id", "reference"),
)

sequence = Table(
    "sequence",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, _fk("project.id"), nullable=False),
    Column("file_id", ID, _fk("file.id"), nullable=False),
    Column("label_id", ID, _fk("label.id"), nullable=False, index=True),
    Column("number", Integer, nullable=False),
    Column("instance_count", Integer, nullable=False, default=0),
    Column("first_frame", Integer),
    Column("last_frame", Integer),
    Column("keyframes", JSONText),
    UniqueConstraint("file_id", "label_id", "number"),
    CheckConstraint("number >= 1", name="number"),
)

instance = Table(
    "instance",
    metadata,
    # No foreign keys here on purpose: PostgreSQL checks each one with a trigger per row, which
    # made COPY of 100k rows 3.5x slower (2.0 s instead of 0.6 s). write_import checks every id
    # its rows use with one query per column instead (store/write.py, `_check_references`).
    Column("id", ID, primary_key=True),
    Column("project_id", ID, nullable=False),
    Column("file_id", ID, nullable=False),
    Column("import_id", ID),
    # From here on: exactly INSTANCE_COLUMNS of store/plan.py, in that order.
    Column("frame", Integer),
    Column("label_id", ID),
    Column("sequence_id", ID),
    Column("type", String(32), nullable=False),
    Column("machine_made", Boolean, nullable=False),
    Column("model_id", ID),
    Column("model_run_id", ID),
    Column("score", Float),
    Column("x_min", Float),
    Column("y_min", Float),
    Column("x_max", Float),
    Column("y_max", Float),
    Column("geometry", Text),
    Column("attributes", Text),
    Column("external_id", String(255)),
    Column("content_hash", String(128), nullable=False),
    # Only the indexes reads need: every index slows the bulk write of millions of rows.
    Index(None, "file_id", "frame"),
    # The caller's own ids are unique within a file. Partial, so that the many rows without an
    # external id cost no index entry at all.
    _index(
        "uq_instance_file_id_external_id",
        "file_id",
        "external_id",
        unique=True,
        sqlite_where=text("external_id IS NOT NULL"),
        postgresql_where=text("external_id IS NOT NULL"),
    ),
)

# Signed-in browsers of the /ui pages (web/sessions.py). Kept here, not in a server's memory, so
# that any API server behind a balancer knows every session, a restart keeps them, and signing
# out ends a session for good. `id` is the SHA-256 (hex) of the cookie's random token: a copy of
# this table signs no one in.
web_session = Table(
    "web_session",
    metadata,
    Column("id", String(64), primary_key=True),
    # NULL with all_projects: a sign-in link's session sees every project of the server.
    Column("project_id", ID, _fk("project.id"), index=True),
    Column("all_projects", Boolean, nullable=False),
    Column("principal", String(255), nullable=False),  # "sign-in link" or the key's client id
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
    Column("revoked_at", UTCDateTime),
    # A user account's session (migration 0007): what it sees is read from `membership` on
    # every request, so a grant or revoke takes effect at once. NULL for a link or a key.
    Column("user_id", ID, _fk("user_account.id"), index=True),
    # A key's session: the key's role in its project; NULL for a link (admin) or a user.
    Column("role", String(16)),
    # One of: a link's (every project), a key's (one project), a user's (its memberships).
    CheckConstraint(
        "(user_id IS NULL AND all_projects = (project_id IS NULL))"
        " OR (user_id IS NOT NULL AND project_id IS NULL AND NOT all_projects)",
        name="scope",
    ),
)

# One-time sign-in links (`labelport serve` prints one): the SHA-256 (hex) of the link's token.
# Redeeming deletes the row in the transaction that creates the session, so a token works once.
web_signin_token = Table(
    "web_signin_token",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)

# People who sign in to the pages with an email and a password (labelport user create). The
# email is kept as given; `email_key`, its lower-case form, is what is unique and looked up, so
# Ann@Example.com and ann@example.com are one account on both databases.
user_account = Table(
    "user_account",
    metadata,
    Column("id", ID, primary_key=True),
    Column("email", String(320), nullable=False),
    Column("email_key", String(320), nullable=False, unique=True),
    # "scrypt$n$r$p$salt$digest" (auth.hash_password): the parameters travel with the hash.
    Column("password_hash", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled", Boolean, nullable=False),
)

# A user's role in a project: the same roles, and the same checks, as an API key's.
membership = Table(
    "membership",
    metadata,
    Column("user_id", ID, _fk("user_account.id"), primary_key=True),
    Column("project_id", ID, _fk("project.id"), primary_key=True, index=True),
    Column("role", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint(_one_of("role", ROLES), name="role"),
)

# Sign-in attempts counted against the limit on failures (auth.DatabaseLimiter), shared by every
# server over the database. `key_hash`: SHA-256 (hex) of "client_id\0<id>" or "remote\0<addr>".
# `at`: seconds since the epoch. A row is `pending` while its password check runs (it counts
# already, so parallel guesses cannot slip past the limit), then deleted (success) or kept.
auth_attempt = Table(
    "auth_attempt",
    metadata,
    Column("id", ID, primary_key=True),
    Column("key_hash", String(64), nullable=False),
    Column("at", Float, nullable=False, index=True),
    Column("pending", Boolean, nullable=False),
    Index(None, "key_hash", "at"),
)


# A model run's evaluation against a reference (evaluate/): its parameters, its figures (overall,
# per label, confusion, curves, tracks) as JSON, and the newest import into its files it saw: an
# import into those files after it makes it stale (store/evaluations.py).
evaluation = Table(
    "evaluation",
    metadata,
    Column("id", ID, primary_key=True),
    Column("project_id", ID, _fk("project.id"), nullable=False),
    Column("model_run_id", ID, _fk("model_run.id"), nullable=False),
    # NULL: the people's instances (machine_made = false); else another run of the project
    Column("reference_run_id", ID, _fk("model_run.id")),
    Column("parameters", JSONText, nullable=False),
    Column("results", JSONText, nullable=False),
    Column("file_count", Integer, nullable=False),
    Column("last_import_id", ID),
    Column("imports_seen", Integer, nullable=False),
    Column("took", Float, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "project_id", "model_run_id", "created_at"),
)

# Per file of an evaluation: its true / false positives and false negatives at the evaluation's
# threshold. Ordered by `errors` (fp + fn) it is the review queue.
evaluation_file = Table(
    "evaluation_file",
    metadata,
    Column("evaluation_id", ID, _fk("evaluation.id"), primary_key=True),
    Column("file_id", ID, _fk("file.id"), primary_key=True, index=True),
    Column("tp", Integer, nullable=False),
    Column("fp", Integer, nullable=False),
    Column("fn", Integer, nullable=False),
    Column("errors", Integer, nullable=False),
    Index(None, "evaluation_id", "errors", "file_id"),
)
