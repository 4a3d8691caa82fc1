"""``oneshot gallery status|encrypt|decrypt|rekey|prune`` and ``oneshot history`` end to end."""

from __future__ import annotations

import json
import sqlite3

import pytest

from core.cli import main


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def enrolled(tmp_path, capsys, people):
    """Obama and Biden enrolled through the command line (a new gallery: encrypted, key file)."""
    gallery = tmp_path / "gallery.db"
    for person in ("barack_obama", "joe_biden"):
        code, _, err = run(capsys, "enroll", "--gallery", gallery, person, people[person][0])
        assert code == 0, err
    return gallery


def status(capsys, gallery) -> dict:
    code, out, err = run(capsys, "gallery", "status", "--gallery", gallery, "--json")
    assert code == 0, err
    return json.loads(out)


def test_status_encrypt_decrypt_and_rekey(capsys, enrolled, monkeypatch, people):
    first = status(capsys, enrolled)
    assert (first["protection"], first["people"], first["samples"]) == ("file", 2, 2)
    assert first["described"].startswith("encrypted (key file in ")
    code, _, err = run(capsys, "gallery", "decrypt", "--gallery", enrolled)
    assert code == 0 and "stored unencrypted" in err
    assert status(capsys, enrolled)["protection"] == "none" and b"joe_biden" in enrolled.read_bytes()
    code, out, err = run(capsys, "gallery", "encrypt", "--gallery", enrolled)
    assert code == 0 and "encrypted" in out, err
    assert b"joe_biden" not in enrolled.read_bytes()

    # a new passphrase comes from ONESHOT_NEW_PASSPHRASE (never an argument); without it and no terminal: refused
    code, _, err = run(capsys, "gallery", "rekey", "--passphrase", "--gallery", enrolled)
    assert code == 2 and "ONESHOT_NEW_PASSPHRASE" in err
    assert status(capsys, enrolled)["protection"] == "file"
    monkeypatch.setenv("ONESHOT_NEW_PASSPHRASE", "open sesame")
    code, _, err = run(capsys, "gallery", "rekey", "--passphrase", "--gallery", enrolled)
    assert code == 0 and "warning: copies and backups of the gallery made before now still need its old key" in err
    monkeypatch.delenv("ONESHOT_NEW_PASSPHRASE")
    code, _, err = run(capsys, "people", "--gallery", enrolled)
    assert code == 2 and "set ONESHOT_PASSPHRASE" in err
    monkeypatch.setenv("ONESHOT_PASSPHRASE", "open sesam")
    before = enrolled.read_bytes()
    code, _, err = run(capsys, "enroll", "--gallery", enrolled, "Rose", people["rose_leslie"][0])
    assert code == 2 and "wrong passphrase" in err and enrolled.read_bytes() == before
    monkeypatch.setenv("ONESHOT_PASSPHRASE", "open sesame")
    code, out, err = run(capsys, "identify", "--gallery", enrolled, "--json", people["joe_biden"][1])
    assert code == 0 and json.loads(out)[0]["faces"][0]["name"] == "joe_biden", err
    code, _, err = run(capsys, "gallery", "rekey", "--key", "--gallery", enrolled)
    assert code == 0, err
    monkeypatch.delenv("ONESHOT_PASSPHRASE")
    assert status(capsys, enrolled)["protection"] == "file"


def test_history_lists_changes_and_flags_an_altered_log(capsys, tmp_path, people):
    gallery = tmp_path / "plain.db"
    from core.storage.repository import Gallery

    Gallery(gallery, protection="none").close()
    for args in (("enroll", "Obama", people["barack_obama"][0]), ("rename", "Obama", "Barack"),
                 ("enroll", "--add", "Barack", people["barack_obama"][1]), ("forget", "Barack")):
        code, _, err = run(capsys, *args[:1], "--gallery", gallery, *args[1:])
        assert code == 0, err
    code, out, err = run(capsys, "history", "--gallery", gallery)
    assert code == 0, err
    lines = out.splitlines()
    assert [line.split("  ")[2].split(" ")[0] for line in lines] == ["enrol", "rename", "add", "forget"]
    assert "(oneshot enroll)" in lines[0] and "rename Barack: was Obama" in lines[1]
    code, out, _ = run(capsys, "history", "--gallery", gallery, "--json", "--last", "1")
    document = json.loads(out)
    assert document["intact"] and [e["action"] for e in document["entries"]] == ["forget"]

    db = sqlite3.connect(gallery)
    db.execute("DROP TRIGGER history_is_append_only_update")
    db.execute("UPDATE history SET subject = 'Someone else' WHERE action = 'rename'")
    db.commit()
    db.close()
    code, _, err = run(capsys, "history", "--gallery", gallery)
    assert code == 1 and "the history was altered: entry 2" in err


def test_prune_forgets_the_unseen_and_needs_a_period(capsys, enrolled, monkeypatch, clock):
    code, _, err = run(capsys, "gallery", "prune", "--gallery", enrolled)
    assert code == 2 and "no retention period" in err
    clock.advance(3)  # dates are stored to the second
    from core.storage.repository import Gallery

    with Gallery(enrolled) as gallery:
        gallery.mark_seen(["joe_biden"])
    monkeypatch.setenv("ONESHOT_RETENTION_DAYS", str(1.5 / 86400))
    code, out, err = run(capsys, "gallery", "prune", "--gallery", enrolled, "--json")
    assert code == 0, err
    assert json.loads(out)["forgotten"] == ["barack_obama"]
    assert status(capsys, enrolled)["people"] == 1
