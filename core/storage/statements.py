"""Every statement the gallery's repository runs, written for one database's parameter marker.

The repository's statements are standard SQL that SQLite and PostgreSQL both run as written;
what differs is the marker a parameter is written with (``?`` for SQLite, ``%s`` for
psycopg), so each backend builds its set once with ``written_for`` and its own marker, and
the text is composed here, in the open, rather than rewritten on the way to the server. What
is really a dialect's own (tables, catalogue, locks, ids) lives in that backend's module.
A gallery of an older schema reads through the set written for its version: what its
tables lack reads as empty.
"""

from __future__ import annotations

from dataclasses import dataclass

from .chips import MAX_STORED_CHIP
from .schema import ROW_KEYS, SEALED_COLUMNS

_KINDS = {"samples": ("embeddings", "sample_id"), "negatives": ("negative_embeddings", "negative_id")}


@dataclass(frozen=True)
class Statements:
    """One backend's statements (see the module docstring). Per-kind ones are keyed by table."""

    marker: str  # how a parameter is written
    people: str
    person: str
    person_by_key: str
    names: str
    name_of: str
    person_exists: str
    sample_count: str
    insert_person: str
    rename: str
    seen: str
    unseen: str
    forget_person: tuple[str, ...]
    insert_chip: dict[str, str]
    insert_masked_sample: str
    insert_vector: dict[str, str]
    upsert_vector: dict[str, str]
    chips_of: dict[str, str]
    chip_infos: dict[str, str]
    owner_of: dict[str, str]
    owners: dict[str, str]
    remove_chip: dict[str, tuple[str, ...]]
    grouped_vectors: dict[str, str]
    stored: dict[str, str]
    vectors_by_id: dict[str, str]
    missing_vectors: dict[str, str]
    person_vectors: str
    vector_count: str
    thumbnails: str
    dimensions: str
    insert_model: str
    forget_model: tuple[str, ...]
    protection: str
    clear_protection: str
    insert_protection: str
    protection_parameters: str
    set_protection_parameters: str
    history: str
    history_head: str
    last_link: str
    insert_history: str
    reseal: dict[str, str]  # a row's sealed values, re-sealed in a migration (by the row's keys)


def written_for(p: str, version: int) -> Statements:
    """The statements with parameter marker ``p``, for a gallery of schema ``version``."""
    chip = f"CASE WHEN length(chip) > {MAX_STORED_CHIP} THEN NULL ELSE chip END"  # a huge value is damage, unread

    def masked(alias: str, table: str) -> str:
        return f"{alias}.masked" if table == "samples" and version >= 4 else "0"

    people = ("SELECT p.name, count(s.id), p.created, p.note, p.id FROM people p "
              "LEFT JOIN samples s ON s.person_id = p.id {} GROUP BY p.id ORDER BY p.id")
    seen = "coalesce(last_seen, created)" if version >= 3 else "created"
    return Statements(
        marker=p,
        people=people.format(""),
        person=people.format(f"WHERE p.id = {p}"),
        person_by_key=f"SELECT id, name FROM people WHERE name_key = {p}",
        names="SELECT id, name FROM people ORDER BY id",
        name_of=f"SELECT name FROM people WHERE id = {p}",
        person_exists=f"SELECT 1 FROM people WHERE id = {p}",
        sample_count=f"SELECT count(*) FROM samples WHERE person_id = {p}",
        insert_person=f"INSERT INTO people (id, name, name_key, created, note) VALUES ({p}, {p}, {p}, {p}, {p})",
        rename=f"UPDATE people SET name = {p}, name_key = {p} WHERE id = {p}",
        seen=f"UPDATE people SET last_seen = {p} WHERE id = {p}",
        unseen=f"SELECT id, name FROM people WHERE {seen} < {p} ORDER BY id",
        forget_person=(
            f"DELETE FROM negative_embeddings WHERE negative_id IN (SELECT id FROM negatives WHERE person_id = {p})",
            f"DELETE FROM negatives WHERE person_id = {p}",
            f"DELETE FROM embeddings WHERE sample_id IN (SELECT id FROM samples WHERE person_id = {p})",
            f"DELETE FROM samples WHERE person_id = {p}",
            f"DELETE FROM people WHERE id = {p}",
        ) if version >= 2 else (
            f"DELETE FROM embeddings WHERE sample_id IN (SELECT id FROM samples WHERE person_id = {p})",
            f"DELETE FROM samples WHERE person_id = {p}",
            f"DELETE FROM people WHERE id = {p}",
        ),
        insert_chip={table: f"INSERT INTO {table} (id, person_id, chip, quality, source, created) "
                            f"VALUES ({p}, {p}, {p}, {p}, {p}, {p})" for table in _KINDS},
        insert_masked_sample=(f"INSERT INTO samples (id, person_id, chip, quality, source, created, masked) "
                              f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, 1)"),
        insert_vector={vectors: f"INSERT INTO {vectors} ({key}, model_id, vector) VALUES ({p}, {p}, {p})"
                       for vectors, key in _KINDS.values()},
        upsert_vector={vectors: f"INSERT INTO {vectors} ({key}, model_id, vector) VALUES ({p}, {p}, {p}) "
                                f"ON CONFLICT ({key}, model_id) DO UPDATE SET vector = excluded.vector"
                       for vectors, key in _KINDS.values()},
        chips_of={table: f"SELECT id, {chip} FROM {table} WHERE person_id = {p} ORDER BY id" for table in _KINDS},
        chip_infos={table: f"SELECT id, {chip}, source, created, quality FROM {table} WHERE person_id = {p} "
                           "ORDER BY id" for table in _KINDS},
        owner_of={table: f"SELECT person_id FROM {table} WHERE id = {p}" for table in _KINDS},
        owners={table: f"SELECT id, person_id FROM {table}" for table in _KINDS},
        remove_chip={table: (f"DELETE FROM {vectors} WHERE {key} = {p}", f"DELETE FROM {table} WHERE id = {p}")
                     for table, (vectors, key) in _KINDS.items()},
        grouped_vectors={table: f"SELECT p.id, p.name, e.vector, s.id, {masked('s', table)} FROM {vectors} e "
                                f"JOIN {table} s ON s.id = e.{key} JOIN people p ON p.id = s.person_id "
                                f"WHERE e.model_id = {p} AND s.id > {p} ORDER BY p.id, s.id"
                         for table, (vectors, key) in _KINDS.items()},
        stored={table: f"SELECT s.id, p.id, p.name, CASE WHEN length(s.chip) > {MAX_STORED_CHIP} THEN NULL ELSE "
                       f"s.chip END, s.quality, s.source, s.created, {masked('s', table)} FROM {table} s "
                       "JOIN people p ON p.id = s.person_id ORDER BY p.id, s.id" for table in _KINDS},
        vectors_by_id={table: f"SELECT e.{key}, s.person_id, e.vector FROM {vectors} e JOIN {table} s "
                              f"ON s.id = e.{key} WHERE e.model_id = {p} ORDER BY e.{key}"
                       for table, (vectors, key) in _KINDS.items()},
        missing_vectors={table: f"SELECT count(*) FROM {table} s WHERE NOT EXISTS (SELECT 1 FROM {vectors} e "
                                f"WHERE e.{key} = s.id AND e.model_id = {p})"
                         for table, (vectors, key) in _KINDS.items()},
        person_vectors=(f"SELECT s.id, e.vector FROM samples s JOIN embeddings e ON e.sample_id = s.id AND "
                        f"e.model_id = {p} WHERE s.person_id = {p} ORDER BY s.id"),
        vector_count=f"SELECT count(*) FROM embeddings WHERE model_id = {p}",
        thumbnails=("SELECT q.id, q.name, q.samples, q.first, CASE WHEN length(f.chip) > "
                    f"{MAX_STORED_CHIP} THEN NULL ELSE f.chip END FROM (SELECT p.id, p.name, count(s.id) AS samples, "
                    "min(s.id) AS first FROM people p LEFT JOIN samples s ON s.person_id = p.id GROUP BY p.id, p.name) q "
                    "LEFT JOIN samples f ON f.id = q.first ORDER BY q.id"),
        dimensions=f"SELECT dimensions FROM models WHERE id = {p}",
        insert_model=f"INSERT INTO models (id, dimensions, added) VALUES ({p}, {p}, {p})",
        forget_model=(f"DELETE FROM embeddings WHERE model_id = {p}",
                      f"DELETE FROM negative_embeddings WHERE model_id = {p}",
                      f"DELETE FROM models WHERE id = {p}"),
        protection="SELECT scheme, key_id, parameters, wrapped_key FROM protection",
        clear_protection="DELETE FROM protection",
        insert_protection=(f"INSERT INTO protection (id, scheme, key_id, parameters, wrapped_key) "
                           f"VALUES (1, {p}, {p}, {p}, {p})"),
        protection_parameters="SELECT parameters FROM protection",
        set_protection_parameters=f"UPDATE protection SET parameters = {p}",
        history='SELECT id, at, "user", program, action, subject, detail, link FROM history ORDER BY id',
        history_head="SELECT count(*), (SELECT link FROM history ORDER BY id DESC LIMIT 1) FROM history",
        last_link="SELECT link FROM history ORDER BY id DESC LIMIT 1",
        insert_history=(f'INSERT INTO history (id, at, "user", program, action, subject, detail, link) '
                        f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})"),
        reseal={table: f"UPDATE {table} SET {', '.join(f'{column} = {p}' for column in columns)} WHERE "
                       f"{' AND '.join(f'{key} = {p}' for key in ROW_KEYS[table])}"
                for table, columns in SEALED_COLUMNS.items()},
    )
