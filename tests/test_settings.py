"""One resolver for every front end: flags > environment > settings file > the model's values."""

from __future__ import annotations

import json

import pytest

from core.cli import main
from core.errors import InputError
from core.settings import Settings, load_settings, resolve_settings, save_settings


def test_precedence_flags_environment_file(tmp_path):
    path = tmp_path / "settings.json"
    save_settings(Settings(tau=0.3, provider="cpu", camera="2"), path)
    assert resolve_settings(environ={}, path=path).tau == 0.3
    environ = {"ONESHOT_TAU": "0.25", "ONESHOT_CAMERA": "clip.mp4"}
    resolved = resolve_settings(environ=environ, path=path)
    assert (resolved.tau, resolved.camera, resolved.provider) == (0.25, "clip.mp4", "cpu")
    resolved = resolve_settings({"tau": 0.2, "provider": None}, environ=environ, path=path)
    assert (resolved.tau, resolved.provider) == (0.2, "cpu")  # None means "not given"


def test_unset_values_fall_to_the_model(tmp_path):
    resolved = resolve_settings(environ={}, path=tmp_path / "none.json")
    assert resolved.tau is None and resolved.score_threshold is None
    assert resolved.effective_tau(0.31) == 0.31
    assert Settings(tau=0.2).effective_tau(0.31) == 0.2


@pytest.mark.parametrize("variable, value, words", [
    ("ONESHOT_TAU", "abc", "ONESHOT_TAU='abc' is not a number"),
    ("ONESHOT_TAU", "nan", "tau must lie between 0 and 4"),
    ("ONESHOT_SCORE_THRESHOLD", "1.5", "score threshold must lie between 0 and 1"),
    ("ONESHOT_PROVIDER", "rocm", "provider must be auto, cuda or cpu"),
])
def test_a_bad_environment_value_is_named(tmp_path, variable, value, words):
    with pytest.raises(InputError, match=words.replace("(", r"\(")):
        resolve_settings(environ={variable: value}, path=tmp_path / "none.json")


def test_a_damaged_file_is_set_aside_not_lost(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("[1, 2]")
    assert load_settings(path) == Settings()
    assert (tmp_path / "settings.json.damaged").read_text() == "[1, 2]"


@pytest.mark.parametrize("cameras", ['"rtsp://door/live"', '["1", "2", "3", "4"]', '["1", ""]', "[1]"])
def test_more_cameras_are_kept_or_refused_whole(tmp_path, cameras):
    path = tmp_path / "settings.json"
    save_settings(Settings(more_cameras=("1", "rtsp://u:p@door/live")), path)
    assert load_settings(path).more_cameras == ("1", "rtsp://u:p@door/live")
    path.write_text(f'{{"tau": 0.3, "more_cameras": {cameras}}}')
    assert load_settings(path) == Settings()  # set aside as damaged, not half-read
    assert (tmp_path / "settings.json.damaged").exists()


def verify(capsys, *args) -> dict:
    code = main(["verify", "--json", *map(str, args)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_the_command_line_reads_the_settings_file(capsys, monkeypatch, tmp_path, people, pipeline):
    pair = people["barack_obama"][:2]
    assert verify(capsys, *pair)["threshold"] == pytest.approx(pipeline.tau)
    save_settings(Settings(tau=0.2), tmp_path / "settings.json")
    monkeypatch.setenv("ONESHOT_SETTINGS", str(tmp_path / "settings.json"))
    assert verify(capsys, *pair)["threshold"] == pytest.approx(0.2)
    monkeypatch.setenv("ONESHOT_TAU", "0.25")
    assert verify(capsys, *pair)["threshold"] == pytest.approx(0.25)
    assert verify(capsys, *pair, "--tau", "0.3")["threshold"] == pytest.approx(0.3)
