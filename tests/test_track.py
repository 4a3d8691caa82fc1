"""The IoU tracker on hand-made faces: identities stick, embeddings are rationed, votes hold,
and a track ends when someone else takes its face's place."""

from __future__ import annotations

import math
from collections import deque

import cv2
import numpy as np
import pytest

from core.vision.detect import Face
from core.live.track import MAX_PENDING_EVENTS, FaceTracker, TrackEvent, appearance


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


# -- the identity follows the face, not the box -------------------------------------------------

TAU = 0.36


def vector(seed: int, near: int | None = None, spread: float = 0.02) -> np.ndarray:
    """A 128-d embedding at the scale of real ones (squared distance between two random ones
    about 2 x 128 x 0.09^2 = 2.1); with ``near``, within ``spread`` of that seed's vector."""
    if near is not None:
        return vector(near) + np.random.default_rng(seed).normal(scale=math.sqrt(spread / 128), size=128)
    return np.random.default_rng(seed).normal(scale=0.09, size=128)


def scene(pattern: np.ndarray, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """A 480x640 grey-background frame with ``pattern`` (a small grey array) stretched over the
    box of ``face(200, 100, 200)``, plus sensor noise."""
    frame = np.full((480, 640, 3), 100.0)
    frame[100:300, 200:400] = cv2.resize(pattern.astype(np.float32), (200, 200), interpolation=cv2.INTER_CUBIC)[..., None]
    frame += np.random.default_rng(seed).normal(scale=noise, size=frame.shape)
    return np.clip(frame, 0, 255).astype(np.uint8)


def pattern(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(40, 220, size=(6, 6))


def test_an_embedding_far_from_the_tracks_own_ends_it_and_starts_a_new_track():
    tracker = FaceTracker(identity_tau=TAU)
    old = tracker.update([face(0, 0)])[0].track_id
    for step in range(3):
        tracker.update([face(0, 0)])
        assert tracker.observe(old, "alice", 0.2, vector(10 + step, near=1)) == old
    (tracked,) = tracker.update([face(0, 0)])
    new = tracker.observe(tracked.track_id, "bob", 0.25, vector(2))
    assert new != old
    assert tracker.label(new) == ("bob", 0.25)  # a vote of its own: no alice in it
    with pytest.raises(KeyError):
        tracker.label(old)
    assert events(tracker) == [("appeared", old, "alice"), ("left", old, "alice"), ("appeared", new, "bob")]
    # the face goes on under the new track
    assert tracker.update([face(1, 0)])[0].track_id == new


def test_a_stranger_replacing_a_stranger_is_a_new_track_even_with_infinite_distances():
    tracker = FaceTracker(identity_tau=TAU)
    first = tracker.update([face(0, 0)])[0].track_id
    assert tracker.observe(first, None, np.inf, vector(1)) == first
    assert tracker.label(first) == (None, np.inf)
    tracker.update([face(0, 0)])
    assert tracker.observe(first, None, None, vector(1, near=1)) == first  # the same stranger
    tracker.update([face(0, 0)])
    second = tracker.observe(first, None, float("nan"), vector(2))  # another one
    assert second != first and tracker.label(second) == (None, np.inf)
    assert events(tracker) == [("appeared", first, None), ("left", first, None), ("appeared", second, None)]


def test_a_close_embedding_or_the_same_name_keeps_the_track():
    tracker = FaceTracker(identity_tau=TAU)
    track_id = tracker.update([face(0, 0)])[0].track_id
    for _ in range(3):
        tracker.observe(track_id, "alice", 0.2, vector(1))
    # Another name, but the embedding is close to the track's: the vote decides, no new track.
    assert tracker.observe(track_id, "bob", 0.3, vector(5, near=1, spread=0.2)) == track_id
    # Far from the track's embeddings, but the gallery says it is alice all the same.
    assert tracker.observe(track_id, "alice", 0.3, vector(3)) == track_id
    # Far from the latest but close to one of the last few: the same person.
    assert tracker.observe(track_id, "carol", 0.3, vector(6, near=1)) == track_id
    assert [kind for kind, _, _ in events(tracker)] == ["appeared"]


def test_without_tau_or_an_embedding_a_track_never_splits():
    without_tau = FaceTracker()
    track_id = without_tau.update([face(0, 0)])[0].track_id
    without_tau.observe(track_id, "alice", 0.2, vector(1))
    assert without_tau.observe(track_id, "bob", 0.2, vector(2)) == track_id
    with_tau = FaceTracker(identity_tau=TAU)
    track_id = with_tau.update([face(0, 0)])[0].track_id
    with_tau.observe(track_id, "alice", 0.2, vector(1))
    assert with_tau.observe(track_id, "bob", 0.2) == track_id
    assert with_tau.observe(track_id, "bob", 0.2, np.full(128, np.nan)) == track_id  # not kept
    assert with_tau.observe(track_id, "bob", 0.2, vector(1, near=1)) == track_id


def test_reidentify_forgets_the_embeddings_a_new_model_cannot_compare_with():
    tracker = FaceTracker(identity_tau=TAU)
    track_id = tracker.update([face(0, 0)])[0].track_id
    tracker.observe(track_id, "alice", 0.2, vector(1))
    tracker.reidentify()
    tracker.update([face(0, 0)])
    assert tracker.observe(track_id, "alice", 0.2, vector(2)) == track_id


def test_a_new_look_under_the_same_box_asks_for_an_embedding_at_once():
    """Someone else sits down: the box stays, the pixels inside it change."""
    tracker = FaceTracker(reembed_every=100)
    box = face(200, 100, 200)
    (first,) = tracker.update([box], scene(pattern(1), noise=3, seed=0))
    tracker.observe(first.track_id, "alice", 0.2)
    steady = [tracker.update([box], scene(pattern(1), noise=3, seed=seed))[0].needs_embedding for seed in range(1, 30)]
    assert not any(steady)  # sensor noise is no reason
    (swapped,) = tracker.update([box], scene(pattern(2), noise=3, seed=30))
    assert swapped.needs_embedding and swapped.track_id == first.track_id
    tracker.observe(swapped.track_id, "bob", 0.2)
    # the new look is the reference now
    assert not tracker.update([box], scene(pattern(2), noise=3, seed=31))[0].needs_embedding


def test_a_slight_change_of_look_asks_for_an_embedding_a_few_frames_later():
    tracker = FaceTracker(reembed_every=100, appearance_change=0.10, unsure_every=3)
    box = face(200, 100, 200)
    base, other = pattern(1), pattern(2)
    reference = appearance(scene(base), box.box)
    weight = next(w for w in np.linspace(0, 1, 201)
                  if 1 - reference @ appearance(scene((1 - w) * base + w * other), box.box) > 0.07)
    slightly = scene((1 - weight) * base + weight * other)
    assert 0.05 < 1 - reference @ appearance(slightly, box.box) < 0.10
    (first,) = tracker.update([box], scene(base))
    tracker.observe(first.track_id, "alice", 0.2)
    wanted = [tracker.update([box], slightly)[0].needs_embedding for _ in range(4)]
    assert wanted == [False, False, True, True]  # 3 frames after the last embedding


def test_a_box_that_jumps_or_changes_size_abruptly_asks_for_an_embedding():
    tracker = FaceTracker(reembed_every=100, quality_gain=10.0, box_jump=0.2, box_scale=1.4)
    (first,) = tracker.update([face(100, 100)])
    tracker.observe(first.track_id, "alice", 0.2)
    assert not tracker.update([face(105, 103)])[0].needs_embedding  # drift
    jumped = tracker.update([face(135, 103)])[0]  # 30 % of its side in one frame
    assert jumped.needs_embedding and jumped.track_id == first.track_id
    tracker.observe(first.track_id, "alice", 0.2)
    assert not tracker.update([face(135, 103, size=105)])[0].needs_embedding
    assert tracker.update([face(145, 113, size=80)])[0].needs_embedding  # 0.58 of the area


def test_a_vote_in_flux_is_settled_frame_by_frame():
    """A different name from a close embedding: re-embed every frame until the vote agrees."""
    tracker = FaceTracker(reembed_every=100, vote_window=5, identity_tau=TAU)
    track_id = tracker.update([face(0, 0)])[0].track_id
    for _ in range(3):
        tracker.observe(track_id, "alice", 0.3, vector(1))
    wanted = []
    for step in range(6):
        (tracked,) = tracker.update([face(0, 0)])
        wanted.append(tracked.needs_embedding)
        if tracked.needs_embedding or step == 0:
            tracker.observe(track_id, "bob", 0.3, vector(7, near=1))
    # bob once (step 0), then every frame until bob holds the vote (3 alice vs 3 bob: the latest wins)
    assert wanted == [False, True, True, False, False, False]
    assert tracker.label(track_id)[0] == "bob"


@pytest.mark.parametrize("box", [(-50, -50, -10, -10), (630, 470, 700, 520), (10, 10, 11, 11), (5, 5, 5, 40)])
def test_appearance_of_a_box_off_the_frame_or_too_small_is_none(box):
    assert appearance(np.zeros((480, 640, 3), np.uint8), box) is None


def test_appearance_of_a_flat_box_is_none_and_of_a_part_visible_box_a_unit_vector():
    frame = scene(pattern(1))
    assert appearance(frame, (0, 0, 100, 100)) is None  # the grey background
    part = appearance(frame, (150, 50, 250, 150))
    assert part.shape == (64,) and abs(np.linalg.norm(part) - 1) < 1e-5
    grey = frame[..., 0].copy()
    assert np.allclose(appearance(grey, (150, 50, 250, 150)), part, atol=1e-2)


def test_tracker_state_stays_bounded_while_faces_come_and_go():
    """Thousands of frames of people arriving, moving, swapping and leaving: the number of
    things the tracker holds depends on the faces in view, not on the running time."""
    rng = np.random.default_rng(0)
    tracker = FaceTracker(identity_tau=TAU)
    frame = scene(pattern(3), noise=20)
    people: list[list] = []  # [x, y, person] of those in view
    sizes, ever = [], 0
    for step in range(6000):
        if rng.random() < 0.05 and len(people) < 4:
            people.append([rng.uniform(0, 500), rng.uniform(0, 340), int(rng.integers(1000))])
        if people and rng.random() < 0.04:
            people.pop(int(rng.integers(len(people))))
        if people and rng.random() < 0.02:
            people[int(rng.integers(len(people)))][2] = int(rng.integers(1000))  # someone else sits down
        for person in people:
            person[0] = float(np.clip(person[0] + rng.normal(0, 2), 0, 500))
        faces = [face(x, y, 100) for x, y, _ in people if rng.random() > 0.1]  # missed now and then
        for tracked in tracker.update(faces, frame):
            if tracked.needs_embedding:
                who = next(p for x, y, p in people if tracked.face.box[:2] == (x, y))
                tracker.observe(tracked.track_id, f"p{who}" if who % 2 else None, 0.3, vector(step, near=who + 10))
        ever = max(ever, tracker._next_id - 1)
        if step % 500 == 499:
            sizes.append(contents(tracker))
        if step < 5000:
            tracker.pop_events()  # the last 1000 frames nobody collects them
    assert ever > 200, "people kept coming and going"
    assert len(tracker._tracks) <= 4 + 4  # those in view, and those missing for a few frames
    early, late = max(sizes[:5]), max(sizes[5:10])
    assert late < 2 * early + 100, f"held items grew from {early} to {late}"
    assert len(tracker.pop_events()) <= MAX_PENDING_EVENTS
    assert contents(tracker) < 1000


def contents(root) -> int:
    """How many items the containers reachable from ``root``'s attributes hold, all together."""
    count, stack, seen = 0, [root], set()
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, (str, bytes, int, float, type(None), np.ndarray)):
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            count += len(item)
            stack += list(item.values())
        elif isinstance(item, (list, tuple, deque, set)):
            count += len(item)
            stack += list(item)
        elif hasattr(item, "__dict__"):
            stack += list(vars(item).values())
    return count


def test_events_nobody_collects_are_capped(caplog):
    tracker = FaceTracker(max_missing=0)
    for step in range(MAX_PENDING_EVENTS):  # each step: one appeared, and the one before left
        track_id = tracker.update([face(300 * (step % 2), 0)])[0].track_id
        tracker.observe(track_id, "alice", 0.3)
    assert "track events not collected" in caplog.text
    kept = tracker.pop_events()
    assert len(kept) == MAX_PENDING_EVENTS and kept[-1] == TrackEvent("appeared", track_id, "alice", step)
    assert tracker.pop_events() == []
