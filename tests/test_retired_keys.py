"""`gallery rekey`/`decrypt` keep the old key as a retired key and say that older copies need it;
`gallery status` lists retired keys and keys whose gallery is gone; `gallery forget-key` deletes one."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from core.storage import keystore
from core.cli import main
from core.storage.repository import Gallery
from core.storage.keys import gallery_key_id


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def spare_keys(capsys, gallery) -> dict[str, dict]:
    code, out, err = run(capsys, "gallery", "status", "--gallery", gallery, "--json")
    assert code == 0, err
    return {key["id"]: key for key in json.loads(out)["spare_keys"]}


@pytest.fixture
def gallery(tmp_path) -> Path:
    """A new, empty gallery encrypted under a key file."""
    path = tmp_path / "g.db"
    with Gallery(path):
        pass
    return path


def test_rekey_keeps_the_old_key_as_retired_and_says_older_copies_need_it(capsys, gallery, tmp_path):
    old = gallery_key_id(gallery)
    backup = tmp_path / "backup.db"
    shutil.copy(gallery, backup)
    code, _, err = run(capsys, "gallery", "rekey", "--gallery", gallery)
    assert code == 0, err
    assert f"still need its old key {old}" in err and f"forget-key {old}" in err
    assert gallery_key_id(gallery) != old
    assert keystore.load_key("file", old)  # the key of the backup is still there
    with Gallery(backup, readonly=True) as copy:
        assert copy.encrypted and copy.people() == []
    retired = spare_keys(capsys, gallery)[old]
    assert (retired["state"], retired["gallery"], retired["store"]) == ("retired", str(gallery), "file")
    assert retired["retired"]
    code, out, _ = run(capsys, "gallery", "status", "--gallery", gallery)
    assert f"retired key {old} (file): retired {retired['retired']} from {gallery}" in out


def test_decrypt_keeps_the_old_key_as_retired(capsys, gallery):
    old = gallery_key_id(gallery)
    code, _, err = run(capsys, "gallery", "decrypt", "--gallery", gallery)
    assert code == 0 and "stored unencrypted" in err and f"still need its old key {old}" in err
    assert gallery_key_id(gallery) is None
    assert spare_keys(capsys, gallery)[old]["state"] == "retired"


def test_leaving_a_passphrase_says_older_copies_need_the_old_passphrase(capsys, tmp_path, monkeypatch):
    path = tmp_path / "p.db"
    with Gallery(path, protection="passphrase", passphrase="old words"):
        pass
    monkeypatch.setenv("ONESHOT_PASSPHRASE", "old words")
    code, _, err = run(capsys, "gallery", "rekey", "--key", "--gallery", path)
    assert code == 0 and "still need its old passphrase" in err


def test_status_lists_the_key_of_a_gallery_that_is_gone(capsys, gallery, tmp_path):
    gone = tmp_path / "gone.db"
    with Gallery(gone):
        pass
    key_id = gallery_key_id(gone)
    for leftover in tmp_path.glob("*gone.db*"):
        leftover.unlink()
    orphan = spare_keys(capsys, gallery)[key_id]
    assert orphan["state"] == "orphaned" and orphan["why"] == f"its gallery {gone} is gone"
    assert gallery_key_id(gallery) not in spare_keys(capsys, gallery)  # a key in use is not listed


def test_forget_key_asks_then_deletes_a_retired_key(capsys, gallery, monkeypatch):
    old = gallery_key_id(gallery)
    assert run(capsys, "gallery", "rekey", "--gallery", gallery)[0] == 0
    code, _, err = run(capsys, "gallery", "forget-key", old)  # no terminal, no --yes: nothing deleted
    assert code == 2 and "give --yes" in err and keystore.load_key("file", old)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    code, _, err = run(capsys, "gallery", "forget-key", old)
    assert code == 0 and "the key is kept" in err and keystore.load_key("file", old)
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    code, out, err = run(capsys, "gallery", "forget-key", old)
    assert code == 0 and f"the retired key {old}" in err and "deleted for good" in err, err
    assert not (keystore.key_folder() / f"{old}.key").exists()
    assert not (keystore.key_folder() / f"{old}.json").exists()
    assert old not in spare_keys(capsys, gallery)


def test_forget_key_refuses_a_key_a_gallery_still_uses(capsys, gallery, tmp_path):
    current = gallery_key_id(gallery)
    code, _, err = run(capsys, "gallery", "forget-key", "--yes", current)
    assert code == 2 and f"the gallery key {current} is kept: the gallery {gallery} uses it" in err
    # a backup put back in place after a rekey uses the retired key again: kept too
    backup = tmp_path / "backup.db"
    shutil.copy(gallery, backup)
    assert run(capsys, "gallery", "rekey", "--gallery", gallery)[0] == 0
    os.replace(backup, gallery)
    code, _, err = run(capsys, "gallery", "forget-key", "--yes", current)
    assert code == 2 and "uses it" in err and keystore.load_key("file", current)
    code, _, err = run(capsys, "gallery", "forget-key", "--yes", "0123abcd")
    assert code == 2 and "no gallery key 0123abcd" in err


def test_a_key_file_without_a_record_is_listed_and_kept(capsys, gallery):
    key_id = keystore.new_key_id()
    keystore._write_key_file(key_id, bytes(keystore.KEY_BYTES))
    assert spare_keys(capsys, gallery)[key_id]["state"] == "unrecorded"
    code, _, err = run(capsys, "gallery", "forget-key", "--yes", key_id)
    assert code == 2 and "no record says which gallery" in err and keystore.load_key("file", key_id)


def test_a_gallery_being_rekeyed_keeps_its_new_key(capsys, gallery):
    """Between the new key's record and the rename, the gallery still uses its old key: the new
    one must not look orphaned."""
    with Gallery(gallery) as opened:
        building = gallery.parent / f".{gallery.name}.0123456789abcdef.rekey"
        building.write_bytes(b"")
        key_id = keystore.new_key_id()
        keystore.create_key(key_id, str(gallery))
        code, _, err = run(capsys, "gallery", "forget-key", "--yes", key_id)
        assert code == 2 and "is being created or re-encrypted" in err
        building.unlink()
        assert opened.encrypted
