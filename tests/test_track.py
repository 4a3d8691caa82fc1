"""The IoU tracker on hand-made faces: identities stick, embeddings are rationed, votes hold."""

from __future__ import annotations

import pytest

from core.detect import Face
from core.track import FaceTracker, TrackEvent


def face(x: float, y: float, size: float = 100.0) -> Face:
    """A square face at (x, y) with plausible landmarks."""
    s = size
    return Face(
        box=(x, y, x + s, y + s),
        score=0.9,
        landmarks=((x + 0.3 * s, y + 0.4 * s), (x + 0.7 * s, y + 0.4 * s), (x + 0.5 * s, y + 0.6 * s),
                   (x + 0.35 * s, y + 0.8 * s), (x + 0.65 * s, y + 0.8 * s)),
    )


def events(tracker: FaceTracker) -> list[tuple[str, int, str | None]]:
    return [(e.kind, e.track_id, e.name) for e in tracker.pop_events()]


def test_a_moving_face_keeps_its_track():
    tracker = FaceTracker()
    ids = {tracker.update([face(100 + 3 * t, 50 + 2 * t)])[0].track_id for t in range(40)}
    assert len(ids) == 1


def test_two_faces_crossing_keep_their_tracks():
    """A walks right along the top, B left along the bottom; they pass each other in x.

    The detections come sorted left to right, so their order in the list swaps halfway.
    """
    tracker = FaceTracker()
    first = tracker.update([face(0, 0), face(400, 150)])
    a_id, b_id = first[0].track_id, first[1].track_id
    assert a_id != b_id
    for t in range(1, 50):
        a, b = face(8 * t, 0), face(400 - 8 * t, 150)
        faces = sorted([a, b], key=lambda f: f.box[0])
        result = tracker.update(faces)
        assert [tf.face for tf in result] == faces  # results follow the input order
        tracked = {tf.face: tf.track_id for tf in result}
        assert (tracked[a], tracked[b]) == (a_id, b_id), f"frame {t}"


def test_overlapping_faces_moving_apart_keep_their_tracks():
    tracker = FaceTracker()
    first = tracker.update([face(100, 100), face(160, 100)])
    ids = [tf.track_id for tf in first]
    for t in range(1, 30):
        tracked = tracker.update([face(100 - 5 * t, 100), face(160 + 5 * t, 100)])
        assert [tf.track_id for tf in tracked] == ids


def test_a_short_gap_keeps_the_track_and_a_long_one_ends_it():
    tracker = FaceTracker(max_missing=5)
    track_id = tracker.update([face(50, 50)])[0].track_id
    tracker.observe(track_id, "alice", 0.3)
    assert events(tracker) == [("appeared", track_id, "alice")]
    for _ in range(5):  # missing for exactly max_missing frames: still there
        assert tracker.update([]) == []
    assert tracker.update([face(52, 50)])[0].track_id == track_id
    assert tracker.pop_events() == []
    for _ in range(6):  # missing for more than max_missing: gone
        tracker.update([])
    assert tracker.pop_events() == [TrackEvent("left", track_id, "alice", frame=12)]
    assert tracker.update([face(52, 50)])[0].track_id != track_id


def test_a_track_without_an_identity_leaves_silently():
    tracker = FaceTracker(max_missing=1)
    tracker.update([face(0, 0)])
    tracker.update([])
    tracker.update([])
    assert tracker.pop_events() == []


def test_a_steady_face_is_reembedded_every_n_frames():
    tracker = FaceTracker(reembed_every=10)
    wanted = []
    for t in range(50):
        (tracked,) = tracker.update([face(200 + (t % 3), 100)])
        if tracked.needs_embedding:
            wanted.append(t)
            tracker.observe(tracked.track_id, "alice", 0.35)
    assert len(wanted) <= 50 // 10 + 1
    assert wanted == [0, 10, 20, 30, 40]


def test_a_clearly_better_view_is_reembedded_at_once():
    tracker = FaceTracker(reembed_every=100, quality_gain=1.25)
    (tracked,) = tracker.update([face(100, 100, size=100)])
    tracker.observe(tracked.track_id, "alice", 0.4)
    # 10% more area: not worth it; 44% more (120 px wide): worth it, once.
    assert not tracker.update([face(100, 100, size=105)])[0].needs_embedding
    (better,) = tracker.update([face(100, 100, size=120)])
    assert better.needs_embedding and better.track_id == tracked.track_id
    tracker.observe(better.track_id, "alice", 0.3)
    assert not tracker.update([face(100, 100, size=121)])[0].needs_embedding


def test_an_unobserved_track_asks_again_after_the_interval():
    tracker = FaceTracker(reembed_every=4)
    wanted = [tracker.update([face(10, 10)])[0].needs_embedding for _ in range(6)]
    assert wanted == [True, False, False, False, True, True]


def test_one_wrong_observation_does_not_change_the_label():
    tracker = FaceTracker(vote_window=7)
    track_id = tracker.update([face(0, 0)])[0].track_id
    for name in ["alice"] * 5 + ["bob"] + ["alice"] * 5:
        tracker.update([face(0, 0)])
        tracker.observe(track_id, name, 0.4 if name == "alice" else 0.5)
        assert tracker.label(track_id)[0] == "alice"
    assert events(tracker) == [("appeared", track_id, "alice")]


def test_a_sustained_change_moves_the_label_with_left_and_appeared():
    tracker = FaceTracker(vote_window=7)
    track_id = tracker.update([face(0, 0)])[0].track_id
    for _ in range(4):
        tracker.observe(track_id, "alice", 0.4)
    labels = []
    for _ in range(4):
        tracker.observe(track_id, "bob", 0.45)
        labels.append(tracker.label(track_id)[0])
    # window after each: 4 alice vs 1, 2, 3 bob, then 3 alice vs 4 bob
    assert labels == ["alice", "alice", "alice", "bob"]
    assert events(tracker) == [
        ("appeared", track_id, "alice"),
        ("left", track_id, "alice"),
        ("appeared", track_id, "bob"),
    ]


def test_ties_go_to_the_most_recent_name_and_unknown_is_a_label():
    tracker = FaceTracker(vote_window=4)
    track_id = tracker.update([face(0, 0)])[0].track_id
    assert tracker.label(track_id) == (None, None)
    tracker.observe(track_id, None, 0.9)
    assert tracker.label(track_id) == (None, 0.9)
    tracker.observe(track_id, "alice", 0.5)
    assert tracker.label(track_id) == ("alice", 0.5)
    tracker.observe(track_id, None, 0.8)
    assert tracker.label(track_id) == (None, 0.8)
    assert events(tracker) == [
        ("appeared", track_id, None),
        ("left", track_id, None),
        ("appeared", track_id, "alice"),
        ("left", track_id, "alice"),
        ("appeared", track_id, None),
    ]


def test_label_reports_the_latest_distance_for_the_voted_name():
    tracker = FaceTracker()
    track_id = tracker.update([face(0, 0)])[0].track_id
    for name, distance in [("alice", 0.30), ("alice", 0.42), ("bob", 0.55)]:
        tracker.observe(track_id, name, distance)
    assert tracker.label(track_id) == ("alice", 0.42)


def test_a_scripted_scene_gives_the_events_a_person_expects():
    """Alice is in view for 30 frames; a stranger walks through frames 5-14; stream ends."""
    tracker = FaceTracker(max_missing=3)
    seen: list[TrackEvent] = []
    for t in range(30):
        faces = [face(100 + t, 100)]
        if 5 <= t < 15:
            faces.append(face(500 - 10 * t, 300))
        for tracked in tracker.update(faces):
            if tracked.needs_embedding:
                name = "alice" if tracked.face is faces[0] else None
                tracker.observe(tracked.track_id, name, 0.3 if name else 0.9)
        seen += tracker.pop_events()
    seen += tracker.finish()
    alice, stranger = seen[0].track_id, seen[1].track_id
    assert seen == [
        TrackEvent("appeared", alice, "alice", 0),
        TrackEvent("appeared", stranger, None, 5),
        TrackEvent("left", stranger, None, 18),  # last seen at 14, missing 15, 16, 17, gone at 18
        TrackEvent("left", alice, "alice", 29),
    ]
    assert tracker.finish() == []


def test_observations_for_tracks_that_ended_or_never_were():
    tracker = FaceTracker(max_missing=0)
    track_id = tracker.update([face(0, 0)])[0].track_id
    tracker.update([])
    tracker.observe(track_id, "alice", 0.3)  # arrived late: ignored
    assert tracker.pop_events() == []
    with pytest.raises(KeyError):
        tracker.label(track_id)
    with pytest.raises(ValueError, match="no track 99"):
        tracker.observe(99, "alice", 0.3)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"iou_threshold": -0.1},
        {"iou_threshold": 1.0},
        {"max_missing": -1},
        {"vote_window": 0},
        {"reembed_every": 0},
        {"quality_gain": 0.9},
        {"quality_gain": float("nan")},
    ],
)
def test_constructor_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        FaceTracker(**kwargs)


def test_reidentify_asks_for_new_embeddings_and_keeps_labels_until_new_votes():
    tracker = FaceTracker(reembed_every=10, vote_window=3)
    face = Face((10, 10, 60, 70), 0.9, ((20, 30), (40, 30), (30, 45), (22, 55), (38, 55)))
    (first,) = tracker.update([face])
    tracker.observe(first.track_id, None, 0.7)
    (steady,) = tracker.update([face])
    assert not steady.needs_embedding
    tracker.reidentify()  # e.g. this person was just enrolled
    (again,) = tracker.update([face])
    assert again.needs_embedding
    assert tracker.label(again.track_id) == (None, None)  # old label kept, no stale distance
    tracker.observe(again.track_id, "ana", 0.1)
    assert tracker.label(again.track_id) == ("ana", 0.1)
    assert [(e.kind, e.name) for e in tracker.pop_events()] == [("appeared", None), ("left", None),
                                                                ("appeared", "ana")]
