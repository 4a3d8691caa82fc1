"""Hysteresis in the live labels: a steady face whose distance wanders near an edge keeps its
colour and its name decision, a real change still shows, and nothing is named past tau."""

from __future__ import annotations

from core.live.track import SURE_FRACTION, FaceTracker, confidence_band
from core.vision.detect import Face

TAU = 0.36  # the sure/near edge is then 0.252
WOBBLE = [0.245, 0.255, 0.248, 0.252]  # a steady face, embedding after embedding
FRAMES = 100  # 4 s at 25 fps


def bands(distances, tau=TAU):
    band, shown = None, []
    for distance in distances:
        band = confidence_band(distance, tau, band)
        shown.append(band)
    return shown


def flips(shown) -> int:
    return sum(a != b for a, b in zip(shown, shown[1:]))


def test_a_distance_wobbling_at_the_amber_edge_flips_the_colour_at_most_once():
    assert abs(SURE_FRACTION * TAU - 0.252) < 1e-9
    assert flips(bands(WOBBLE * (FRAMES // len(WOBBLE)))) <= 1
    assert flips(bands(list(reversed(WOBBLE)) * (FRAMES // len(WOBBLE)))) <= 1


def test_a_distance_that_really_moves_changes_the_colour():
    rising = [0.20 + 0.10 * n / (FRAMES - 1) for n in range(FRAMES)]
    shown = bands(rising)
    assert shown[0] == "sure" and shown[-1] == "near" and flips(shown) == 1
    assert bands(list(reversed(rising)))[-1] == "sure"
    assert bands([0.20, 0.37])[-1] == "unknown"


def test_past_tau_is_unknown_whatever_the_band_was():
    for previous in ("sure", "near", "unknown", None):
        assert confidence_band(TAU, TAU, previous) == "unknown"
        assert confidence_band(None, TAU, previous) == "unknown"


def steady_track(tau=TAU):
    tracker = FaceTracker(identity_tau=tau)
    track_id = tracker.update([Face(box=(0, 0, 100, 100), score=0.9, landmarks=())])[0].track_id
    return tracker, track_id


def test_a_distance_above_tau_never_keeps_a_name():
    tracker, track_id = steady_track()
    for _ in range(6):
        tracker.observe(track_id, "alice", 0.30)
    assert tracker.label(track_id)[0] == "alice"
    tracker.observe(track_id, None, 0.37)  # one look past tau: the vote's majority does not keep the name
    assert tracker.label(track_id)[0] is None
    tracker.observe(track_id, "alice", 0.39)  # a name past tau (a laxer caller) is not taken either
    assert tracker.label(track_id)[0] is None


def test_a_distance_wobbling_at_tau_names_only_once_clearly_inside():
    tracker, track_id = steady_track()
    shown = []
    for distance in [0.355, 0.365] * (FRAMES // 2):
        tracker.observe(track_id, "alice" if distance < TAU else None, distance)
        shown.append(tracker.label(track_id)[0])
    assert shown == [None] * FRAMES, "a name came and went at tau"
    for _ in range(4):  # the majority of the vote's window of 7
        tracker.observe(track_id, "alice", 0.30)
    assert tracker.label(track_id)[0] == "alice"
    tracker.observe(track_id, "alice", 0.355)  # once named, the name holds up to tau
    assert tracker.label(track_id) == ("alice", 0.355)


def test_the_margins_follow_the_models_own_distance_scale():
    """An imported model's tau may be 0.1 or 1.3: the margin before a name is taken, and the
    band's hysteresis, are the same share of its tau as 0.02 is of the shipped 0.36."""
    for tau in (0.1, 1.27):
        tracker, track_id = steady_track(tau)
        tracker.observe(track_id, "alice", 0.97 * tau)  # inside tau, but within the margin: not yet
        assert tracker.label(track_id)[0] is None
        tracker, track_id = steady_track(tau)
        tracker.observe(track_id, "alice", 0.9 * tau)  # clearly inside: named (a fixed 0.02 would refuse 0.09 of 0.1)
        assert tracker.label(track_id)[0] == "alice"
        wobble = [distance / TAU * tau for distance in WOBBLE]
        assert flips(bands(wobble * (FRAMES // len(WOBBLE)), tau)) <= 1
