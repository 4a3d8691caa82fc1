"""The history cannot be cut or recomputed unseen: its head is sealed under the gallery's key."""

from __future__ import annotations

import json
import sqlite3

import pytest

from core.storage import history
from core.cli import main
from core.storage.repository import Gallery

from gallery_data import MODEL, real_chips, unit_vector


@pytest.fixture(scope="module")
def chips(data_dir):
    return real_chips(data_dir, 3)


@pytest.fixture
def gallery_path(tmp_path, chips):
    """An encrypted gallery (key file) with four history entries."""
    path = tmp_path / "g.db"
    with Gallery(path) as gallery:
        assert gallery.encrypted
        gallery.enroll("Ana", chips[0], unit_vector(0), MODEL, 0.9, "ana.jpg")
        gallery.enroll("Bo", chips[1], unit_vector(1), MODEL, 0.8, "bo.jpg")
        gallery.rename("Bo", "Bob")
        gallery.record("export", "", "2 samples to backup.oneshot")
        entries, broken = gallery.history()
    assert broken is None and len(entries) == 4
    return path


def behind_sqlites_back(path, *statements):
    db = sqlite3.connect(path)
    db.execute("DROP TRIGGER history_is_append_only_update")
    db.execute("DROP TRIGGER history_is_append_only_delete")
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()


def verdict(path):
    with Gallery(path, readonly=True) as gallery:
        return gallery.history()


def test_deleting_the_newest_entry_is_detected(gallery_path, capsys):
    behind_sqlites_back(gallery_path, "DELETE FROM history WHERE id = (SELECT max(id) FROM history)")
    entries, broken = verdict(gallery_path)
    assert len(entries) == 3 and broken == 4 and "1 of its 4 entries were cut from the end" in broken.reason
    code = main(["history", "--gallery", str(gallery_path)])
    assert code == 1 and "the history was altered: 1 of its 4 entries were cut" in capsys.readouterr().err


def test_deleting_every_entry_is_detected(gallery_path, capsys):
    behind_sqlites_back(gallery_path, "DELETE FROM history")
    entries, broken = verdict(gallery_path)
    assert entries == [] and broken == 1 and "4 of its 4 entries were cut" in broken.reason
    code = main(["history", "--gallery", str(gallery_path), "--json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 1 and not document["intact"] and document["tamper_evident"] and "cut" in document["reason"]


def test_rewriting_an_entry_and_recomputing_the_chain_is_detected(gallery_path):
    """Even with the chain recomputed over the forged values (what a plain gallery cannot resist)."""
    with Gallery(gallery_path, readonly=True) as gallery:
        entries, _ = gallery.history()
    forged = [history.HistoryEntry(e.id, e.at, "someone else" if e.id == 3 else e.user, e.program, e.action,
                                   e.subject, e.detail) for e in entries]
    links, previous = [], history.GENESIS
    for e in forged:
        previous = history.chain_digest(previous, e.at, e.user, e.program, e.action, e.subject, e.detail)
        links.append(previous)
    behind_sqlites_back(gallery_path, *(f"UPDATE history SET user = '{e.user}', link = x'{link.hex()}' WHERE id = {e.id}"
                                        for e, link in zip(forged, links)))
    entries, broken = verdict(gallery_path)
    assert entries[2].user == "someone else" and broken == 4 and "recomputed" in broken.reason


def test_a_forged_entry_and_a_removed_anchor_are_detected(gallery_path):
    with Gallery(gallery_path, readonly=True) as gallery:
        entries, _ = gallery.history()
    last = entries[-1]
    db = sqlite3.connect(gallery_path)
    (link,) = db.execute("SELECT link FROM history WHERE id = ?", (last.id,)).fetchone()
    added = history.chain_digest(link, last.at, "mallory", "oneshot", "export", "", "")
    db.execute("INSERT INTO history (at, user, program, action, link) VALUES (?, 'mallory', 'oneshot', 'export', ?)",
               (last.at, added))
    db.commit()
    _, broken = verdict(gallery_path)
    assert broken == 5 and "added without the gallery's key" in broken.reason
    (parameters,) = db.execute("SELECT parameters FROM protection").fetchone()
    db.execute("UPDATE protection SET parameters = ?",
               (json.dumps({k: v for k, v in json.loads(parameters).items() if k != "history"}),))
    db.commit()
    db.close()
    _, broken = verdict(gallery_path)
    assert "sealed anchor is missing" in broken.reason


def test_the_anchor_follows_every_change_and_a_rekey(gallery_path, chips):
    with Gallery(gallery_path) as gallery:
        gallery.forget("Ana")
        gallery.reprotect("key")
        gallery.enroll("Cy", chips[2], unit_vector(2), MODEL, 0.7, "cy.jpg")
        entries, broken = gallery.history()
    assert broken is None and [e.action for e in entries][-3:] == ["forget", "rekey", "enrol"]


def test_a_plain_gallery_says_its_history_is_not_tamper_evident(tmp_path, chips, capsys):
    path = tmp_path / "plain.db"
    with Gallery(path, protection="none") as gallery:
        gallery.enroll("Ana", chips[0], unit_vector(0), MODEL, 0.9, "ana.jpg")
        assert not gallery.history_is_sealed
    assert main(["history", "--gallery", str(path)]) == 0
    assert "its history is not tamper-evident (no key" in capsys.readouterr().err
    assert main(["gallery", "status", "--gallery", str(path)]) == 0
    assert "history is not tamper-evident" in capsys.readouterr().out


def test_the_recorded_user_is_the_process_owner_not_the_environment(tmp_path, chips, monkeypatch):
    pwd = pytest.importorskip("pwd")
    import os

    owner = pwd.getpwuid(os.getuid()).pw_name
    for variable in ("USER", "LOGNAME", "LNAME", "USERNAME"):
        monkeypatch.setenv(variable, "someone-else")
    assert history.current_user() == owner
    with Gallery(tmp_path / "g.db", protection="none") as gallery:
        gallery.enroll("Ana", chips[0], unit_vector(0), MODEL, 0.9, "ana.jpg")
        entries, _ = gallery.history()
    assert [e.user for e in entries] == [owner]


def test_a_gallery_kept_before_anchors_is_no_alarm_and_its_upgrade_anchors_it(gallery_path, chips):
    """Schema 3 had no anchor: its history reads as intact, the first write seals its head, and
    from then on a cut shows."""
    db = sqlite3.connect(gallery_path)
    (parameters,) = db.execute("SELECT parameters FROM protection").fetchone()
    kept = {key: value for key, value in json.loads(parameters).items() if key != "history"}
    db.execute("UPDATE protection SET parameters = ?", (json.dumps(kept),))
    db.execute("ALTER TABLE samples DROP COLUMN masked")
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()
    entries, broken = verdict(gallery_path)
    assert len(entries) == 4 and broken is None
    with Gallery(gallery_path) as gallery:
        gallery.enroll("Cy", chips[2], unit_vector(2), MODEL, 0.7, "cy.jpg")
    assert verdict(gallery_path)[1] is None
    behind_sqlites_back(gallery_path, "DELETE FROM history WHERE id = (SELECT max(id) FROM history)")
    assert "were cut from the end" in verdict(gallery_path)[1].reason
