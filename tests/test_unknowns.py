"""Who's this? Unknown faces grouped per person in memory, named from the service and the CLI.

The grouping rule is checked on plain vectors; the whole path (live loop -> groups -> a new
person in the gallery -> the next frames named) with the real models on ORL photos.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from core.cli import main
from core.vision.detect import Face
from core.errors import NotThisPersonError
from core.errors import InputError
from core.storage.repository import Gallery
from core.vision.imaging import load_image
from core.vision.quality import QualityReport
from core.live.service import Identified, RecognitionService
from core.settings import Settings
from core.live.unknowns import UnknownFace, UnknownFaces

TAU = 0.36
FACE = Face((0.0, 0.0, 100.0, 100.0), 0.9, ((30.0, 40.0), (70.0, 40.0), (50.0, 60.0), (35.0, 80.0), (65.0, 80.0)))


def report(score_height: float = 150.0, ok: bool = True) -> QualityReport:
    return QualityReport(score_height, 300.0, 120.0, 0.0, 0.55, () if ok else ("too small",), ())


def sighting(vector, frame: int = 0, height: float = 150.0, ok: bool = True) -> UnknownFace:
    chip = np.full((150, 150, 3), frame % 256, np.uint8)
    return UnknownFace(FACE, chip, np.asarray(vector, np.float32), report(height, ok), frame, float(frame))


def person(axis: int, rng: np.random.Generator | None = None, spread: float = 0.05) -> np.ndarray:
    """A point on axis ``axis`` (2 apart from any other axis: different people), with a little noise."""
    vector = np.zeros(128, np.float32)
    vector[axis] = 1.0
    if rng is not None:
        vector += rng.normal(0.0, spread / np.sqrt(128), 128).astype(np.float32)
    return vector


# -- the grouping rule on plain vectors ----------------------------------------------------------


def test_a_face_joins_the_nearest_group_within_tau_else_starts_one():
    unknowns = UnknownFaces(TAU)
    a = unknowns.add(sighting(person(0), 0))
    b = unknowns.add(sighting(person(1), 1))
    assert a != b
    near_a = person(0)
    near_a[2] = 0.5  # 0.25 from a's centroid: below tau
    assert unknowns.add(sighting(near_a, 2)) == a
    far = person(0)
    far[2] = -0.7  # 0.49 from a's first face, more from the rest: above tau from every group
    c = unknowns.add(sighting(far, 3))
    assert c not in (a, b)
    groups = {group.group_id: group for group in unknowns.groups()}
    assert [groups[g].count for g in (a, b, c)] == [2, 1, 1]
    assert (groups[a].first_frame, groups[a].last_frame) == (0, 2)
    np.testing.assert_allclose(groups[a].centroid, (person(0) + near_a) / 2, atol=1e-6)


def test_a_group_keeps_its_best_samples_best_first():
    unknowns = UnknownFaces(TAU, samples_per_group=3)
    heights = [80, 190, 120, 200, 60, 150]
    for frame, height in enumerate(heights):
        unknowns.add(sighting(person(0), frame, height, ok=frame != 3))  # the tallest fails the gate
    (group,) = unknowns.groups()
    assert group.count == len(heights)
    # Those that pass the enrolment gate first, then by quality score (face size here).
    assert [sample.frame for sample in group.samples] == [1, 5, 2]
    assert group.best.frame == 1


def test_thousands_of_unknown_faces_stay_bounded():
    rng = np.random.default_rng(0)
    unknowns = UnknownFaces(TAU, max_groups=20, samples_per_group=5)
    for frame in range(3000):  # a crowd: 100 people, each seen many times, in random order
        unknowns.add(sighting(person(int(rng.integers(100)), rng), frame, float(rng.uniform(60, 200))))
    groups = unknowns.groups()
    assert len(groups) == len(unknowns) == 20
    assert all(1 <= len(group.samples) <= 5 for group in groups)
    assert len({group.group_id for group in groups}) == 20
    # The ones kept are the most recently seen.
    assert min(group.last_frame for group in groups) > 2900


def test_the_least_recently_seen_group_makes_room():
    unknowns = UnknownFaces(TAU, max_groups=2)
    first = unknowns.add(sighting(person(0), 0))
    second = unknowns.add(sighting(person(1), 1))
    assert unknowns.add(sighting(person(0), 2)) == first  # seen again: now the most recent
    third = unknowns.add(sighting(person(2), 3))
    assert [group.group_id for group in unknowns.groups()] == [first, third]
    assert second not in (first, third)


def test_remove_clear_and_revision():
    unknowns = UnknownFaces(TAU)
    start = unknowns.revision
    group = unknowns.add(sighting(person(0)))
    assert unknowns.revision > start
    assert unknowns.remove(group) and not unknowns.remove(group)
    assert unknowns.group(group) is None and unknowns.groups() == []
    unknowns.add(sighting(person(0)))
    unknowns.clear("model-b")
    assert len(unknowns) == 0 and unknowns.model_id == "model-b"


def test_stored_samples_are_copies_of_the_callers_buffers():
    unknowns = UnknownFaces(TAU)
    vector = person(0)
    chip = np.zeros((150, 150, 3), np.uint8)
    unknowns.add(UnknownFace(FACE, chip, vector, report(), 0, 0.0))
    vector[:] = 0.0
    chip[:] = 255
    (group,) = unknowns.groups()
    assert group.best.embedding[0] == 1.0 and group.best.chip.max() == 0


@pytest.mark.parametrize("arguments", [dict(tau=-1.0), dict(tau=float("nan")), dict(tau=TAU, max_groups=0),
                                       dict(tau=TAU, samples_per_group=0)])
def test_bad_settings_are_refused(arguments):
    with pytest.raises(ValueError):
        UnknownFaces(**arguments)


def test_a_non_finite_embedding_is_refused():
    with pytest.raises(ValueError):
        UnknownFaces(TAU).add(sighting(np.full(128, np.nan)))


# -- the real thing: strangers taking turns in front of the camera -------------------------------

ENROLLED = (1, 2, 3)  # ORL people in the gallery
STRANGER_A, STRANGER_B = 8, 10  # never enrolled; their photos lie 0.38 and more from anyone else's
TURN = 8  # frames per turn


def orl_frame(data_dir, person: int, photo: int, rng: np.random.Generator) -> np.ndarray:
    """ORL photo enlarged 2.5x (a face about 185 px tall) at the centre of a 640x480 frame, with
    a steady camera's jitter (up to 2 px) and sensor noise."""
    face = cv2.resize(load_image(data_dir / "orl" / f"s{person}" / f"{photo}.pgm").pixels, None, fx=2.5, fy=2.5)
    frame = np.full((480, 640, 3), 110, np.uint8)
    dx, dy = (int(v) for v in rng.integers(-2, 3, 2))
    top, left = (480 - face.shape[0]) // 2 + dy, (640 - face.shape[1]) // 2 + dx
    frame[top:top + face.shape[0], left:left + face.shape[1]] = face
    return np.clip(frame + rng.normal(0.0, 3.0, frame.shape), 0, 255).astype(np.uint8)


def write_turns(folder, data_dir, turns: list[tuple[int, int]], seed: int = 0) -> list[int]:
    """Frames of (person, photo) turns, TURN frames each, as lossless files; who is in each frame."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    who = []
    for person, photo in turns:
        for _ in range(TURN):
            pixels = orl_frame(data_dir, person, photo, rng)
            cv2.imwrite(str(folder / f"{len(who):04d}.png"), cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR))
            who.append(person)
    return who


STRANGERS_TAKING_TURNS = [(STRANGER_A, 2), (STRANGER_B, 2), (STRANGER_A, 3), (STRANGER_B, 3)]


@pytest.fixture
def orl_gallery(pipeline, data_dir, tmp_path):
    """A gallery file with ORL people 1-3 enrolled (photo 1 each)."""
    path = tmp_path / "orl.db"
    with Gallery(path) as gallery:
        for person in ENROLLED:
            result = pipeline.analyse(load_image(data_dir / "orl" / f"s{person}" / "1.pgm"))[0]
            gallery.enroll(f"orl_s{person}", result.chip, result.embedding, pipeline.embedder.spec.id, 1.0, "test")
    return path


@pytest.fixture
def service(pipeline, orl_gallery):
    service = RecognitionService(Settings(gallery=str(orl_gallery), liveness=False), pipeline, Gallery(orl_gallery))
    yield service
    service.close()


def play(service: RecognitionService, folder) -> list[Identified]:
    return [event for event in service.live(str(folder), realtime=False, reconnect=False)
            if isinstance(event, Identified)]


def group_of(service: RecognitionService, who: list[int], person: int):
    """The one group whose faces were all seen while ``person`` was in front of the camera."""
    found = [group for group in service.unknown_groups()
             if {who[sample.frame] for sample in group.samples} == {person}]
    assert len(found) == 1, f"person {person}: {len(found)} groups"
    return found[0]


def test_two_strangers_taking_turns_make_two_groups_and_naming_one_enrols_it(service, data_dir, tmp_path,
                                                                             orl_gallery):
    who = write_turns(tmp_path / "turns", data_dir, STRANGERS_TAKING_TURNS)
    frames = play(service, tmp_path / "turns")
    assert all(face.name is None for event in frames for face in event.faces)

    groups = service.unknown_groups()
    assert len(groups) == 2
    a, b = group_of(service, who, STRANGER_A), group_of(service, who, STRANGER_B)
    assert a.first_frame == 0 and b.first_frame == TURN
    assert a.last_frame >= 2 * TURN and b.last_frame >= 3 * TURN
    # One face per re-embedding of a track, not one per frame.
    assert 4 <= a.count + b.count < len(who)
    assert service.people_count() == len(ENROLLED)  # nothing was written to the gallery

    result = service.name_unknown_group(a.group_id, "Stranger A")
    assert result.person.name == "Stranger A" and 1 <= result.person.samples <= 3
    assert [group.group_id for group in service.unknown_groups()] == [b.group_id]
    with Gallery(orl_gallery) as other:  # stored for good: another connection sees it
        assert other.person("Stranger A").samples == result.person.samples

    # The next frames of that person get the name: from the first embedding on.
    write_turns(tmp_path / "again", data_dir, [(STRANGER_A, 4)], seed=1)
    again = play(service, tmp_path / "again")
    names = [[face.name for face in event.faces] for event in again]
    assert names == [["Stranger A"]] * TURN
    assert [group.group_id for group in service.unknown_groups()] == [b.group_id]

    # B is not A: adding B to A is refused with the distance, and B stays on offer.
    with pytest.raises(NotThisPersonError):
        service.add_unknown_group_to(b.group_id, "Stranger A")
    assert [group.group_id for group in service.unknown_groups()] == [b.group_id]
    service.forget_unknown_group(b.group_id)
    assert service.unknown_groups() == []
    with pytest.raises(InputError, match="no unknown person"):
        service.name_unknown_group(b.group_id, "Stranger B")
    assert service.people_count() == len(ENROLLED) + 1


def test_an_unknown_group_added_to_someone_just_enrolled(service, data_dir, tmp_path):
    who = write_turns(tmp_path / "turns", data_dir, [(STRANGER_A, 2)])
    play(service, tmp_path / "turns")
    group = group_of(service, who, STRANGER_A)

    # Enrolled from a photo meanwhile (the gallery manager): the group can join them.
    ready = service.preview_enrolment(data_dir / "orl" / f"s{STRANGER_A}" / "1.pgm")
    service.commit_enrolment("Ann", ready.candidate)
    result = service.add_unknown_group_to(group.group_id, "Ann")
    assert result.person.name == "Ann" and 2 <= result.person.samples <= 4
    assert service.unknown_groups() == []


def test_a_group_someone_enrolled_elsewhere_is_no_longer_offered(service, data_dir, tmp_path):
    who = write_turns(tmp_path / "turns", data_dir, [(STRANGER_A, 2), (STRANGER_B, 2)])
    play(service, tmp_path / "turns")
    b = group_of(service, who, STRANGER_B)
    ready = service.preview_enrolment(data_dir / "orl" / f"s{STRANGER_A}" / "1.pgm")
    service.commit_enrolment("Ann", ready.candidate)
    write_turns(tmp_path / "more", data_dir, [(STRANGER_B, 3)], seed=2)
    play(service, tmp_path / "more")  # the loop notices the gallery changed and checks its groups
    assert [group.group_id for group in service.unknown_groups()] == [b.group_id]


# -- the command line ----------------------------------------------------------------------------


def test_watch_summary_lists_the_unknown_groups(capsys, data_dir, tmp_path, orl_gallery):
    who = write_turns(tmp_path / "turns", data_dir, STRANGERS_TAKING_TURNS)
    code = main(["watch", "--gallery", str(orl_gallery), "--json", str(tmp_path / "turns")])
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out.splitlines()[-1])["summary"]
    groups = summary["unknown_groups"]
    assert len(groups) == 2
    assert all(set(group) == {"id", "faces", "first_frame", "last_frame"} for group in groups)
    assert sorted(group["first_frame"] for group in groups) == [0, TURN]
    assert all(group["faces"] >= 2 and group["last_frame"] < len(who) for group in groups)

    code = main(["watch", "--gallery", str(orl_gallery), str(tmp_path / "turns")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.splitlines()[-1].endswith("; 2 unknown people seen")
    with Gallery(orl_gallery) as gallery:  # watching stored nothing
        assert len(gallery.people()) == len(ENROLLED)
