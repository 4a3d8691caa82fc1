"""Options of the ``oneshot`` command: numbers are checked while parsing (argparse's exit 2 and
one clear error line), and the shared options count wherever they are given, before or after
the command's name, or are refused; never silently dropped.
"""

from __future__ import annotations

import json

import pytest

from core.cli import build_parser, main
from core.cli.common import SHARED_DEFAULTS
from core.resources import sample_face


def parse(*argv):
    return build_parser().parse_args([str(arg) for arg in argv])


def parse_error(capsys, *argv) -> str:
    """The error line of a refused command line (argparse prints usage first, exits 2)."""
    with pytest.raises(SystemExit) as leaving:
        parse(*argv)
    assert leaving.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: oneshot") and "Traceback" not in err
    return err.strip().splitlines()[-1]


# Each command line with "{}" where the value goes, the option's name in the message, bad values.
BAD_NUMBERS = [
    (["detect", "x", "--score-threshold", "{}"], "--score-threshold", ["nan", "-0.1", "1.01", "inf", "abc", ""]),
    (["--score-threshold", "{}", "detect", "x"], "--score-threshold", ["nan", "2"]),
    (["identify", "x", "--nms-threshold", "{}"], "--nms-threshold", ["nan", "1.5", "-1"]),
    (["verify", "a", "b", "--tau", "{}"], "--tau", ["0", "-1", "nan", "inf", "x"]),
    (["verify", "a", "b", "--tau={}"], "--tau", ["-inf", "-1e-3"]),  # "=": argparse would read them as options
    (["identify", "x", "--tau", "{}"], "--tau", ["0", "nan"]),
    (["watch", "0", "--tau", "{}"], "--tau", ["-0.5", "nan"]),
    (["identify", "x", "--top-k", "{}"], "--top-k", ["0", "-3", "1.5", "many"]),
    (["watch", "0", "--max-frames", "{}"], "--max-frames", ["0", "-1", "2.5"]),
    (["watch", "0", "--detect-side", "{}"], "--detect-side", ["-1", "5", "31", "4097", "1e3"]),
    (["watch", "{}"], "SOURCE", ["100", "99999", "1400", "-1"]),
    (["gui", "--source", "{}"], "--source", ["100"]),
    (["gui", "--check-frames", "{}"], "--check-frames", ["0", "-2"]),
    (["bench", "--repeat", "{}"], "--repeat", ["0", "-1", "ten"]),
    (["train", "d", "--holdout", "{}"], "--holdout", ["0", "1", "nan", "-0.5"]),
    (["train", "d", "--margin", "{}"], "--margin", ["0", "-0.2", "nan", "inf"]),
    (["train", "d", "-P", "{}"], "-P/--people-per-batch", ["1", "0"]),
    (["train", "d", "-K", "{}"], "-K/--images-per-person", ["1"]),
    (["train", "d", "--epochs", "{}"], "--epochs", ["0", "-1"]),
    (["train", "d", "--learning-rate", "{}"], "--learning-rate", ["0", "nan", "-0.001", "inf"]),
    (["train", "d", "--weight-decay", "{}"], "--weight-decay", ["-1", "nan", "inf"]),
    (["train", "d", "--train-layers", "{}"], "--train-layers", ["-1"]),
    (["train", "d", "--patience", "{}"], "--patience", ["-1"]),
    (["train", "d", "--greyscale", "{}"], "--greyscale", ["1.5", "nan", "-0.1"]),
    (["train", "d", "--seed", "{}"], "--seed", ["-1", "4294967296", "1.5"]),
]


@pytest.mark.parametrize(("argv", "option", "value"),
                         [(argv, option, value) for argv, option, values in BAD_NUMBERS for value in values])
def test_bad_numbers_are_refused_while_parsing(capsys, argv, option, value):
    line = parse_error(capsys, *[arg.replace("{}", value) for arg in argv])
    assert line.startswith("oneshot") and f"error: argument {option}: " in line
    assert repr(value) in line and ("expected" in line or "goes from" in line)


GOOD_NUMBERS = [
    (["detect", "x", "--score-threshold", "{}"], "score_threshold", {"0": 0.0, "1": 1.0, "0.35": 0.35}),
    (["detect", "x", "--nms-threshold", "{}"], "nms_threshold", {"0": 0.0, "1": 1.0}),
    (["verify", "a", "b", "--tau", "{}"], "tau", {"1e-9": 1e-9, "0.36": 0.36, "4": 4.0}),
    (["identify", "x", "--top-k", "{}"], "top_k", {"1": 1, "50": 50}),
    (["watch", "0", "--detect-side", "{}"], "detect_side", {"0": 0, "32": 32, "4096": 4096}),
    (["watch", "{}"], "source", {"0": "0", "99": "99", "clips/a.mp4": "clips/a.mp4", "frames": "frames"}),
    (["train", "d", "--holdout", "{}"], "holdout", {"0.01": 0.01, "0.99": 0.99}),
    (["train", "d", "--greyscale", "{}"], "greyscale", {"0": 0.0, "1": 1.0}),
    (["train", "d", "--seed", "{}"], "seed", {"0": 0, "4294967295": 4294967295}),
    (["train", "d", "--weight-decay", "{}"], "weight_decay", {"0": 0.0}),
    (["train", "d", "--train-layers", "{}"], "train_layers", {"0": 0}),
    (["train", "d", "-P", "{}"], "people_per_batch", {"2": 2}),
]


@pytest.mark.parametrize(("argv", "name", "value", "expected"),
                         [(argv, name, value, expected) for argv, name, pairs in GOOD_NUMBERS
                          for value, expected in pairs.items()])
def test_sensible_numbers_are_accepted(argv, name, value, expected):
    args = parse(*[arg.replace("{}", value) for arg in argv])
    assert getattr(args, name) == expected


# Every command with placeholders for its positionals, and the shared options it takes.
COMMANDS = {
    "detect x": {"json", "debug", "provider", "score_threshold", "nms_threshold"},
    "embed x": {"json", "debug", "provider", "score_threshold", "nms_threshold"},
    "verify a b": {"json", "debug", "provider", "score_threshold", "nms_threshold"},
    "info": {"json", "debug", "provider"},
    "bench": {"json", "debug", "provider", "score_threshold", "nms_threshold"},
    "enroll n i": {"json", "debug", "provider", "score_threshold", "nms_threshold", "gallery"},
    "people": {"json", "debug", "gallery"},
    "rename a b": {"json", "debug", "gallery"},
    "forget n": {"json", "debug", "gallery"},
    "export f": {"json", "debug", "gallery"},
    "import f": {"json", "debug", "provider", "score_threshold", "nms_threshold", "gallery"},
    "identify x": {"json", "debug", "provider", "score_threshold", "nms_threshold", "gallery"},
    "reembed": {"json", "debug", "provider", "score_threshold", "nms_threshold", "gallery"},
    "watch 0": {"json", "debug", "provider", "score_threshold", "nms_threshold", "gallery"},
    "train d": {"json", "debug", "provider", "score_threshold", "nms_threshold", "gallery"},
    "models": {"json", "debug"},
    "models activate m": {"json", "debug", "provider", "gallery"},
    "models half": {"json", "debug", "provider", "score_threshold", "nms_threshold", "gallery"},
    "gui": {"json", "debug"},
}
GIVEN = {"json": (["--json"], True), "debug": (["--debug"], True), "gallery": (["--gallery", "G.db"], "G.db"),
         "provider": (["--provider", "cpu"], "cpu"), "score_threshold": (["--score-threshold", "0.25"], 0.25),
         "nms_threshold": (["--nms-threshold", "0.75"], 0.75)}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("where", ["before", "after"])
def test_shared_options_count_before_and_after_the_command(command, where):
    words = command.split()
    names = sorted(COMMANDS[command])
    flags = [flag for name in names for flag in GIVEN[name][0]]
    args = parse(*(flags + words if where == "before" else words + flags))
    for name in names:
        assert str(getattr(args, name)) == str(GIVEN[name][1]), (name, where)
    untouched = parse(*words)
    for name, default in SHARED_DEFAULTS.items():
        assert getattr(untouched, name) == default
    assert not any(name.startswith("_") for name in vars(args))


def test_the_value_after_the_command_wins_over_the_one_before():
    assert parse("--provider", "cpu", "detect", "--provider", "cuda", "x").provider == "cuda"
    assert parse("--score-threshold", "0.1", "identify", "x", "--score-threshold", "0.9").score_threshold == 0.9


@pytest.mark.parametrize(("argv", "message"), [
    (["--gallery", "G.db", "detect", "x"], "argument --gallery: not an option of `oneshot detect`"),
    (["--score-threshold", "0.5", "people"], "argument --score-threshold: not an option of `oneshot people`"),
    (["--provider", "cpu", "models"], "argument --provider: not an option of `oneshot models`"),
    (["--nms-threshold", "0.5", "models", "activate", "m"],
     "argument --nms-threshold: not an option of `oneshot models activate`"),
    (["--gallery", "G.db"], "argument --gallery: not an option of `oneshot gui`"),
])
def test_a_shared_option_the_command_does_not_take_is_refused_not_dropped(capsys, argv, message):
    assert parse_error(capsys, *argv) == f"oneshot: error: {message}"


def test_json_before_the_command_is_honoured_end_to_end(capsys):
    for argv in (["--json", "detect", sample_face()], ["--json", "--provider", "cpu", "detect", sample_face()]):
        code = main([str(arg) for arg in argv])
        out, err = capsys.readouterr()
        assert code == 0 and err == ""
        document = json.loads(out)
        assert document[0]["image"] == str(sample_face()) and len(document[0]["faces"]) == 1


def test_debug_before_the_command_shows_the_traceback(capsys, monkeypatch):
    from core.cli import faces

    def broken(args):
        raise RuntimeError("boom")

    monkeypatch.setattr(faces, "run_detect", broken)
    assert main(["detect", "x"]) == 1
    assert capsys.readouterr().err.strip() == "oneshot: internal error: RuntimeError: boom (rerun with --debug)"
    for argv in (["--debug", "detect", "x"], ["detect", "--debug", "x"]):
        with pytest.raises(RuntimeError, match="boom"):  # --debug: the traceback, wherever it was given
            main(argv)


def test_main_returns_the_exit_code_of_a_refused_option(capsys):
    assert main(["identify", "x", "--top-k", "0"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "oneshot identify: error: argument --top-k: expected a whole number of at least 1, got '0'")
    assert main(["--help"]) == 0 and "--score-threshold" in capsys.readouterr().out
