"""Gallery keys are never lost: only the OS's secure stores count as a keyring, every write is
read back, and programs creating galleries at the same moment keep every key."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.storage import keystore
from core.storage.sealing import Protection
from core.errors import MissingKeyError

ROOT = Path(__file__).resolve().parents[1]
PLAINTEXT = "keyrings.alt.file.PlaintextKeyring"

# One program creating gallery keys one after another, as `oneshot` does for each new gallery.
WRITER = """
import base64, json, sys
from core.storage import keystore
made = []
for _ in range(int(sys.argv[1])):
    key_id = keystore.new_key_id()
    store, key = keystore.create_key(key_id, 'gallery.db')
    made.append([store, key_id, base64.b64encode(key).decode()])
print(json.dumps(made))
"""


@pytest.fixture
def plaintext_keyring(tmp_path, monkeypatch):
    """keyrings.alt's plaintext file as the active keyring backend, as the dev extra installs it."""
    pytest.importorskip("keyrings.alt")
    import keyring.core

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", PLAINTEXT)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "keyring"))
    keyring.core.init_backend()
    yield
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    keyring.core.init_backend()


def test_a_file_backed_keyring_is_not_the_system_keyring(plaintext_keyring):
    key_id = keystore.new_key_id()
    store, key = keystore.create_key(key_id, "gallery.db")
    assert store == "file" and (keystore.key_folder() / f"{key_id}.key").is_file()
    assert keystore.load_key(store, key_id) == key
    status = Protection("keyring", key_id, {}, b"").describe()
    assert "not the system keyring" in status and "PlaintextKeyring" in status


def test_a_file_backed_keyring_is_refused_when_a_keyring_is_required(plaintext_keyring, monkeypatch):
    monkeypatch.setenv("ONESHOT_KEY_STORE", "keyring")
    with pytest.raises(MissingKeyError, match="not one of the OS's secure stores"):
        keystore.create_key(keystore.new_key_id(), "gallery.db")


def test_a_key_in_an_old_file_backed_keyring_still_opens(plaintext_keyring):
    """Galleries made before file backends were refused keep their keys where they are."""
    import keyring

    key_id = keystore.new_key_id()
    keyring.get_keyring().set_password(keystore.KEYRING_SERVICE, key_id, base64.b64encode(bytes(32)).decode())
    assert keystore.load_key("keyring", key_id) == bytes(32)


def test_a_key_that_does_not_read_back_is_refused(monkeypatch):
    monkeypatch.setattr(keystore, "_read_key_file", lambda key_id: bytes(keystore.KEY_BYTES))
    with pytest.raises(MissingKeyError, match="does not read back; no gallery was created"):
        keystore.create_key(keystore.new_key_id(), "gallery.db")


def test_a_key_the_system_keyring_does_not_read_back_is_refused(plaintext_keyring, monkeypatch):
    import keyring

    monkeypatch.setattr(keystore, "SECURE_BACKENDS", (*keystore.SECURE_BACKENDS, "keyrings.alt.file"))
    monkeypatch.setattr(type(keyring.get_keyring()), "get_password", lambda self, service, name: None)
    with pytest.raises(MissingKeyError, match="system keyring .* does not read back"):
        keystore.create_key(keystore.new_key_id(), "gallery.db")


def test_programs_creating_keys_at_once_keep_every_key(plaintext_keyring, tmp_path):
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, "25"], cwd=ROOT, env=environment,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    made = []
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        made += json.loads(out)
    assert len(made) == 100
    for store, key_id, key in made:
        assert keystore.load_key(store, key_id) == base64.b64decode(key), f"the {store} key {key_id} was lost"


def test_each_key_records_its_gallery(tmp_path):
    """So a key whose gallery is gone can be found (`gallery status`) and a retired one told apart."""
    key_id = keystore.new_key_id()
    store, _ = keystore.create_key(key_id, str(tmp_path / "g.db"))
    record = keystore.read_record(key_id)
    assert (record.store, record.gallery, record.retired) == (store, str(tmp_path / "g.db"), None) and record.created
    assert oct((keystore.key_folder() / f"{key_id}.json").stat().st_mode & 0o777) == "0o600"
    keystore.retire_key(store, key_id, str(tmp_path / "g.db"))
    assert keystore.read_record(key_id).retired and record in [
        keystore.KeyRecord(r.key_id, r.store, r.gallery, r.created) for r in keystore.stored_keys()]
    assert keystore.delete_key(store, key_id) and keystore.read_record(key_id) is None
