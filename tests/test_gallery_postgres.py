"""The shared gallery on a real PostgreSQL server (Debian's), started by the tests on a free port."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from core.cli import main
from core.errors import InputError
from core.storage.repository import Gallery
from core.errors import GalleryError
from core.storage.copy import copy_gallery
from core.storage.location import open_gallery_at
from core.storage.postgres import PostgresGallery, wait_online
from core.vision.imaging import load_image
from core.live.match import Matcher
from gallery_data import MODEL, passphrase_cipher, real_chips, unit_vector

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def database(server, request):
    name = "g_" + request.node.name.lower().replace("[", "_").replace("]", "")[:50]
    return server.create_database(name)


@pytest.fixture(scope="module")
def chips(data_dir):
    return real_chips(data_dir, 4)


def station_script(url: str, prefix: str, count: int) -> list[str]:
    """Another station: a process of its own enrolling ``count`` people, printing each commit."""
    code = ("import sys, time, numpy as np; from core.storage.postgres import PostgresGallery\n"
            "g = PostgresGallery(sys.argv[1]); chip = np.full((150, 150, 3), 90, np.uint8)\n"
            "for n in range(int(sys.argv[3])):\n"
            "    v = np.random.default_rng(sum(map(ord, sys.argv[2])) + n).normal(size=128).astype(np.float32)\n"
            "    g.enroll(f'{sys.argv[2]} {n}', chip, v / np.linalg.norm(v), 'dlib-resnet-v1', 0.8, 'station')\n"
            "    print(n + 1, time.time(), flush=True)\n"
            "g.close()\n")
    return [sys.executable, "-c", code, url, prefix, str(count)]


def test_everything_the_local_gallery_does(database, chips, server):
    with PostgresGallery(database) as gallery:
        assert gallery.encrypted
        gallery.enroll("Ana", chips[0], unit_vector(1), MODEL, 0.9, "photo a")
        gallery.enroll("Ana", chips[1], unit_vector(2), MODEL, 0.8, "photo b", add_to_existing=True)
        gallery.enroll("Bob", chips[2], unit_vector(3), MODEL, 0.9, "photo c")
        gallery.rename("bob", "Robert")
        negative = gallery.add_negative("Ana", chips[3], unit_vector(4), MODEL, "live")
        assert [p.name for p in gallery.people()] == ["Ana", "Robert"] and gallery.person("ana").samples == 2
        assert [s.source for s in gallery.person_samples("Ana")] == ["photo a", "photo b"]
        gallery.store_embeddings("other-model", {s.id: unit_vector(10 + s.id) for s in gallery.samples()})
        assert gallery.count_missing("other-model") == 1  # the negative
        assert Matcher(gallery, MODEL, 0.36).match(unit_vector(3)[None])[0].name == "Robert"
        gallery.remove_negative(negative)
        gallery.forget("Ana")
        with pytest.raises(InputError):
            gallery.reprotect("none")
    import psycopg

    with psycopg.connect(database) as db:
        rows = {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("people", "samples", "embeddings", "negatives", "negative_embeddings")}
        sealed = b"".join(row[0] for row in db.execute("SELECT name FROM people UNION ALL SELECT chip FROM samples"))
    assert rows == {"people": 1, "samples": 1, "embeddings": 2, "negatives": 0, "negative_embeddings": 0}
    assert b"Robert" not in sealed and b"\x89PNG" not in sealed and b"photo" not in sealed


def test_copy_file_to_server_and_back_keeps_every_row(database, chips, tmp_path, capsys):
    local = tmp_path / "local.db"
    with Gallery(local) as gallery:
        for n in range(6):
            gallery.enroll(f"person {n}", chips[n % 4], unit_vector(n), MODEL, 0.7, f"s{n}")
        gallery.rename("person 5", "Eve")
        digest = gallery.content_digest(history=False)
    assert main(["gallery", "copy", str(local), database]) == 0
    out, err = capsys.readouterr()
    assert "copying [" in err and out.startswith("copied to postgresql://")
    back = tmp_path / "back.db"
    with open_gallery_at(database, readonly=True) as shared:
        assert shared.content_digest(history=False) == digest
        copy_gallery(shared, back)
        with pytest.raises(InputError, match="already holds a gallery"):
            copy_gallery(shared, database)
    with Gallery(back, readonly=True) as gallery:
        assert gallery.content_digest(history=False) == digest
        assert [e.action for e in gallery.history()[0]][-2:] == ["import", "import"]
    with PostgresGallery(database) as shared:  # ids continue after the copied ones
        shared.enroll("New", chips[0], unit_vector(99), MODEL, 0.7, "x")


def test_two_stations_enrol_at_once_and_nothing_is_lost(database):
    with PostgresGallery(database):
        pass  # the schema, made once before the stations start
    stations = [subprocess.Popen(station_script(database, prefix, 25), cwd=ROOT, stdout=subprocess.PIPE, text=True)
                for prefix in ("door", "hall")]
    for station in stations:
        assert station.wait(120) == 0
    with PostgresGallery(database, readonly=True) as gallery:
        assert len(gallery.people()) == 50
        assert len(Matcher(gallery, MODEL, 0.36).index.names) == 50


def test_a_station_sees_another_stations_enrolment_within_a_second(database):
    with PostgresGallery(database) as station_b:
        matcher = Matcher(station_b, MODEL, 0.36)
        assert matcher.index.names == []
        a = subprocess.Popen(station_script(database, "visitor", 1), cwd=ROOT, stdout=subprocess.PIPE, text=True)
        v = np.random.default_rng(sum(map(ord, "visitor"))).normal(size=128).astype(np.float32)
        query = (v / np.linalg.norm(v))[None]
        _, committed = a.stdout.readline().split()
        deadline = time.monotonic() + 30
        while matcher.match(query)[0].name != "visitor 0" and time.monotonic() < deadline:
            time.sleep(0.001)
        identified = time.time()
        assert matcher.match(query)[0].name == "visitor 0"
        assert a.wait(60) == 0
        print(f"\nenrolled on station A, identified on station B {identified - float(committed):.3f} s after A's commit")


def same_vectors(a, b) -> bool:
    return (a.names == b.names and np.array_equal(a.owners, b.owners) and np.array_equal(a.matrix, b.matrix)
            and a.last_id == b.last_id)


def test_a_station_catches_up_by_reading_only_what_another_added(database, chips):
    with PostgresGallery(database) as station_a, PostgresGallery(database) as station_b:
        station_a.enroll("Ana", chips[0], unit_vector(1), MODEL, 0.9, "a")
        station_a.enroll("Bob", chips[1], unit_vector(2), MODEL, 0.9, "b")
        known = station_b.vectors(MODEL)
        station_a.enroll("Cy", chips[2], unit_vector(3), MODEL, 0.9, "c")
        station_a.enroll("Ana", chips[3], unit_vector(4), MODEL, 0.9, "d", add_to_existing=True)
        station_a.add_negative("Bob", chips[0], unit_vector(5), MODEL, "live")
        station_a.mark_seen(["Bob"])
        caught = station_b.appended_vectors(MODEL, known)
        assert caught is not None and same_vectors(caught, station_b.vectors(MODEL))
        assert caught.names == ["Ana", "Bob", "Cy"] and list(caught.owners) == [0, 0, 1, 2]
        station_a.store_embeddings("other-model", {s.id: unit_vector(20 + s.id) for s in station_a.samples()})
        assert same_vectors(station_b.appended_vectors(MODEL, caught), caught)  # another model's vectors
        # every other kind of change: the caller has to read everything again
        changes = [lambda: station_a.rename("Cy", "Dee"),
                   lambda: station_a.remove_sample(station_a.person_samples("Ana")[1].id),
                   lambda: station_a.store_embeddings(MODEL, {station_a.samples()[0].id: unit_vector(30)}),
                   lambda: station_a.forget("Bob")]
        for change in changes:
            known = station_b.vectors(MODEL)
            change()
            assert station_b.appended_vectors(MODEL, known) is None
        matcher = Matcher(station_b, MODEL, 0.36)
        assert matcher.match(unit_vector(30)[None])[0].name == "Ana"
        station_a.enroll("Eve", chips[2], unit_vector(6), MODEL, 0.9, "e")
        deadline = time.monotonic() + 10  # B's listener hears A's commit
        while matcher.match(unit_vector(6)[None])[0].name != "Eve" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert matcher.match(unit_vector(6)[None])[0].name == "Eve"


def test_a_gallery_made_before_change_marks_gets_them(database, chips):
    import psycopg

    with PostgresGallery(database) as gallery:
        gallery.enroll("Ana", chips[0], unit_vector(1), MODEL, 0.9, "a")
    with psycopg.connect(database) as db:
        for trigger, table in (("people_changed", "people"), ("samples_changed", "samples"),
                               ("embeddings_changed", "embeddings")):
            db.execute(f"DROP TRIGGER {trigger} ON {table}")
        db.execute("ALTER TABLE oneshot_revision DROP COLUMN reset")
    with PostgresGallery(database, readonly=True) as reader:  # cannot add them: reads everything each time
        assert reader.appended_vectors(MODEL, reader.vectors(MODEL)) is None
    with PostgresGallery(database) as gallery:
        known = gallery.vectors(MODEL)
        gallery.rename("Ana", "Anna")
        assert gallery.appended_vectors(MODEL, known) is None
        known = gallery.vectors(MODEL)
        gallery.enroll("Bob", chips[1], unit_vector(2), MODEL, 0.9, "b")
        assert gallery.appended_vectors(MODEL, known).names == ["Anna", "Bob"]


def test_a_schema_3_gallery_gets_masked_samples_and_a_reader_sees_none(database, chips):
    import psycopg

    with PostgresGallery(database) as gallery:
        gallery.enroll("Ana", chips[0], unit_vector(1), MODEL, 0.9, "a")
    with psycopg.connect(database) as db:
        db.execute("ALTER TABLE samples DROP COLUMN masked")
        db.execute("UPDATE oneshot_meta SET value = '3' WHERE key = 'schema_version'")
    with PostgresGallery(database, readonly=True) as reader:  # reads as it is, every sample plain
        assert reader.vectors(MODEL).masked is None
    with PostgresGallery(database) as gallery:  # a writer adds the column
        gallery.enroll("Ana", chips[1], unit_vector(2), MODEL, 0.9, "b", add_to_existing=True, masked=True)
        known = gallery.vectors(MODEL)
        assert known.masked.tolist() == [False, True]
        gallery.enroll("Bob", chips[2], unit_vector(3), MODEL, 0.9, "c")
        assert gallery.appended_vectors(MODEL, known).masked.tolist() == [False, True, False]
    with psycopg.connect(database) as db:
        assert db.execute("SELECT value FROM oneshot_meta WHERE key = 'schema_version'").fetchone()[0] == "5"


@pytest.mark.slow
def test_a_station_identifies_from_memory_while_the_server_is_away(database, server, chips):
    with PostgresGallery(database) as gallery:
        gallery.enroll("Ana", chips[0], unit_vector(1), MODEL, 0.9, "a")
        matcher = Matcher(gallery, MODEL, 0.36)
        assert matcher.match(unit_vector(1)[None])[0].name == "Ana"
        server.stop()
        try:
            deadline = time.monotonic() + 10
            while gallery.online and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not gallery.online
            assert matcher.match(unit_vector(1)[None])[0].name == "Ana"  # from memory
            with pytest.raises(GalleryError, match="nothing was changed|cannot"):
                gallery.enroll("Bob", chips[1], unit_vector(2), MODEL, 0.9, "b")
        finally:
            server.restart()
            restarted = time.monotonic()
        assert wait_online(gallery, 20)
        print(f"\nthe station was back online {time.monotonic() - restarted:.2f} s after the server's restart")
        gallery.enroll("Bob", chips[1], unit_vector(2), MODEL, 0.9, "b")
        assert matcher.match(unit_vector(2)[None])[0].name == "Bob"


def test_a_killed_station_leaves_exactly_the_committed_enrolments(database):
    with PostgresGallery(database):
        pass
    station = subprocess.Popen(station_script(database, "late", 400), cwd=ROOT, stdout=subprocess.PIPE, text=True)
    printed = 0
    while printed < 15:
        printed = int(station.stdout.readline().split()[0])
    os.kill(station.pid, signal.SIGKILL)
    station.wait()
    printed = max([printed] + [int(line.split()[0]) for line in station.stdout.read().splitlines() if line.strip()])
    with PostgresGallery(database, readonly=True) as gallery:
        people = gallery.people()
        assert printed <= len(people) <= printed + 1  # the last commit may not have been printed yet
        assert all(person.samples == 1 for person in people)
        assert gallery.count_missing(MODEL) == 0


def test_the_command_line_and_the_service_take_a_server_url(database, people, capsys):
    assert main(["enroll", "--gallery", database, "Obama", str(people["barack_obama"][0])]) == 0
    assert main(["identify", "--gallery", database, "--json", str(people["barack_obama"][1])]) == 0
    assert '"name": "Obama"' in capsys.readouterr().out
    from core.live.service import RecognitionService
    from core.settings import Settings

    with RecognitionService.open(Settings(gallery=database)) as service:
        assert service.enrolled_names() == ["Obama"]
        assert service.gallery_protection.startswith("encrypted")
    image = load_image(people["barack_obama"][1])
    assert image.pixels.shape[2] == 3


def test_data_travels_over_tls_when_the_server_offers_it(database, capsys):
    """The tests' server offers TLS: the gallery uses it without being asked (and says so)."""
    with PostgresGallery(database):
        pass
    assert main(["gallery", "status", "--gallery", database, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["in_transit"].startswith("TLS (TLSv1.") and "***@127.0.0.1" in status["gallery"]
    with PostgresGallery(database + "?sslmode=disable", readonly=True) as plain:
        assert plain.in_transit.startswith("not encrypted")
    with pytest.raises(GalleryError, match="certificate verify failed"):  # insisting on a verified one: ours is self-signed
        PostgresGallery(database + "?sslmode=verify-full&sslrootcert=system")


def first_enrolment(database: str, start: threading.Barrier, failures: list, name: str, chip, vector) -> None:
    """One station opening the gallery and enrolling, at the same moment as the others."""
    try:
        start.wait(30)
        with PostgresGallery(database) as gallery:
            gallery.enroll(name, chip, vector, MODEL, 0.9, "first")
    except Exception as exc:  # the thread's failure is the test's
        failures.append(f"{name}: {type(exc).__name__}: {exc}")


def test_stations_making_a_new_gallery_at_once_both_enrol(server, chips):
    """Two stations' first enrolment on a new database: the schema is made once, under the
    writes' lock, and neither station fails (several rounds: the race is one of timing)."""
    for round_number in range(4):
        database = server.create_database(f"g_first_enrolment_{round_number}")
        start = threading.Barrier(2)
        failures = []
        threads = [threading.Thread(target=first_enrolment, args=(database, start, failures, f"station {n}",
                                                                  chips[n], unit_vector(n + 1))) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert failures == []
        with PostgresGallery(database, readonly=True) as gallery:
            assert sorted(p.name for p in gallery.people()) == ["station 0", "station 1"]


@pytest.mark.slow
def test_a_server_lost_mid_enrolment_is_exit_2_with_a_clear_line(database, server, people, monkeypatch, capsys):
    assert main(["enroll", "--gallery", database, "Obama", str(people["barack_obama"][0])]) == 0
    capsys.readouterr()
    enroll = PostgresGallery.enroll

    def enroll_as_the_server_dies(self, *args, **kwargs):
        server.stop()
        return enroll(self, *args, **kwargs)

    monkeypatch.setattr(PostgresGallery, "enroll", enroll_as_the_server_dies)
    try:
        code = main(["enroll", "--gallery", database, "Biden", str(people["joe_biden"][0])])
    finally:
        server.restart()
    errors = capsys.readouterr().err
    assert code == 2, errors
    assert "internal error" not in errors
    assert "cannot" in errors.splitlines()[0] and "PoolTimeout" not in errors


def _field_cipher(db, passphrase: str):
    """The gallery's field cipher, from its passphrase (what only the key's holder can do)."""
    from core.storage.sealing import parsed_protection

    return passphrase_cipher(parsed_protection(*db.execute(
        "SELECT scheme, key_id, parameters, wrapped_key FROM protection").fetchone()), passphrase)


def test_values_swapped_on_the_server_name_nobody(database, chips):
    """Issue 23, break 3 on a server: two samples' vectors exchanged with psql, no key."""
    with PostgresGallery(database) as gallery:
        gallery.enroll("Ana", chips[0], unit_vector(1), MODEL, 0.9, "a")
        gallery.enroll("Bob", chips[1], unit_vector(2), MODEL, 0.9, "b")
    import psycopg

    with psycopg.connect(database) as db:
        (a,), (b,) = db.execute("SELECT vector FROM embeddings ORDER BY sample_id").fetchall()
        db.execute("UPDATE embeddings SET vector = %s WHERE sample_id = (SELECT min(sample_id) FROM embeddings)", (b,))
        db.execute("UPDATE embeddings SET vector = %s WHERE sample_id = (SELECT max(sample_id) FROM embeddings)", (a,))
    with PostgresGallery(database) as gallery:
        vectors = gallery.vectors(MODEL)
        assert vectors.skipped == 2 and vectors.names == []
        assert Matcher(gallery, MODEL, 0.36).match(unit_vector(1)[None])[0].name is None
        gallery.enroll("Cy", chips[2], unit_vector(3), MODEL, 0.9, "c")  # after the swap's change mark
        vectors = gallery.vectors(MODEL)
        gallery.enroll("Dee", chips[3], unit_vector(4), MODEL, 0.9, "d")
        caught_up = gallery.appended_vectors(MODEL, vectors)  # the damaged rows do not force a full read
        assert caught_up is not None and caught_up.names == ["Cy", "Dee"] and caught_up.skipped == 2


def test_a_shared_gallery_of_schema_4_is_resealed_in_its_first_write(database, chips):
    """Values sealed to their column only (schema 4) read as they are, and the first write seals
    them to their rows, history included, in its one transaction."""
    passphrase = "station passphrase"
    with PostgresGallery(database, protection="passphrase", passphrase=passphrase) as gallery:
        gallery.enroll("Ana", chips[0], unit_vector(1), MODEL, 0.9, "a", note="first")
        gallery.add_negative("Ana", chips[1], unit_vector(2), MODEL, "live")
        gallery.enroll("Bob", chips[2], unit_vector(3), MODEL, 0.9, "b")
        digest = gallery.content_digest(history=False)
    import psycopg

    from core.storage.port import NEGATIVES, SAMPLES
    from core.storage.sealing import cell

    with psycopg.connect(database) as db:  # as schema 4 sealed them: bound to the column only
        cipher = _field_cipher(db, passphrase)
        db.execute("ALTER TABLE history DISABLE TRIGGER history_is_append_only")
        for table, column, key, owner in (("people", "name", "id", "id"), ("people", "note", "id", "id"),
                                          ("samples", "chip", "id", "person_id"),
                                          ("samples", "source", "id", "person_id"),
                                          ("negatives", "chip", "id", "person_id"),
                                          ("history", "subject", "id", "NULL")):
            for row_id, owner_id, value in db.execute(f"SELECT {key}, {owner}, {column} FROM {table}").fetchall():
                if value is not None:
                    plain = cipher.open(value, cell(table, column, row_id, owner_id))
                    db.execute(f"UPDATE {table} SET {column} = %s WHERE {key} = %s",
                               (cipher.seal(plain, f"{table}.{column}"), row_id))
        for kind in (SAMPLES, NEGATIVES):
            for chip_id, model_id, owner_id, value in db.execute(
                    f"SELECT e.{kind.key}, e.model_id, s.person_id, e.vector FROM {kind.vectors} e "
                    f"JOIN {kind.table} s ON s.id = e.{kind.key}").fetchall():
                plain = cipher.open(value, kind.vector_cell(chip_id, model_id, owner_id))
                db.execute(f"UPDATE {kind.vectors} SET vector = %s WHERE {kind.key} = %s AND model_id = %s",
                           (cipher.seal(plain, f"{kind.vectors}.vector"), chip_id, model_id))
        db.execute("ALTER TABLE history ENABLE TRIGGER history_is_append_only")
        db.execute("UPDATE oneshot_meta SET value = '4' WHERE key = 'schema_version'")
    with PostgresGallery(database, passphrase=passphrase) as gallery:
        assert gallery.content_digest(history=False) == digest  # read as it is
        gallery.mark_seen(["Ana"])  # the first write
        assert gallery.history()[1] is None
    with psycopg.connect(database) as db:
        assert db.execute("SELECT value FROM oneshot_meta WHERE key = 'schema_version'").fetchone()[0] == "5"
        (name,) = db.execute("SELECT name FROM people ORDER BY id LIMIT 1").fetchone()
        from core.storage.crypto import SealBroken

        with pytest.raises(SealBroken):
            _field_cipher(db, passphrase).open(name, "people.name")  # the column-only seal is gone
    with PostgresGallery(database, passphrase=passphrase) as gallery:
        assert [(p.name, p.samples, p.note) for p in gallery.people()] == [("Ana", 1, "first"), ("Bob", 1, "")]
        assert [info.source for info in gallery.negatives("Ana")] == ["live"]
        assert len(gallery.sample_vectors(MODEL)) == 2 and gallery.history()[1] is None


def test_a_server_that_refuses_is_exit_1_and_one_unreachable_exit_2(database, server, capsys):
    """A broken server (here: a role without rights on the gallery's tables) is the server's
    failure, exit 1; a server that cannot be reached is the address's, exit 2 (both one line)."""
    import psycopg

    with PostgresGallery(database) as gallery:
        gallery.record("export", "", "made")
    with psycopg.connect(server.url("postgres"), autocommit=True) as db:
        db.execute("DROP ROLE IF EXISTS visitor")
        db.execute("CREATE ROLE visitor LOGIN")
    visitor = database.replace("postgresql://postgres@", "postgresql://visitor@")
    assert main(["people", "--gallery", visitor]) == 1
    err = capsys.readouterr().err
    assert "cannot read the gallery: the server refused (permission denied for table" in err
    assert len(err.strip().splitlines()) == 1 and "internal error" not in err
    unreachable = database.replace(f":{server.port}/", ":9/")
    assert main(["people", "--gallery", unreachable]) == 2
    assert "cannot reach the gallery's server" in capsys.readouterr().err
