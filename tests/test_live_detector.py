"""Which detector runs where: photos through CenterFace, the live view through the chosen live
detector (YuNet-n by default), with the user's Pc carried over to its own scale."""

from __future__ import annotations

import pytest

from core.bench import letterbox
from core.errors import ModelError
from core.live.camera import Frame
from core.live.loop import LIVE_LONG_SIDE, LiveRecognizer, live_threshold
from core.live.match import Matcher
from core.settings import Settings, resolve_settings
from core.storage.repository import Gallery
from core.vision.imaging import load_image
from core.vision.pipeline import LIVE_DETECTORS, FacePipeline


@pytest.fixture
def gallery(tmp_path):
    with Gallery(tmp_path / "g.db") as gallery:
        yield gallery


def live_boxes(pipeline, gallery, pixels, long_side=LIVE_LONG_SIDE) -> list:
    recognizer = LiveRecognizer(pipeline, Matcher(gallery, pipeline.embedder.spec.id, pipeline.tau),
                                detect_long_side=long_side)
    return [face.face.box for face in recognizer.process(Frame(pixels, 0, 0.0)).faces]


def test_the_live_view_detects_with_the_live_detector_and_a_file_at_full_size_with_the_photos_one(
        pipeline, gallery, people):
    """The two networks put a face's box a few pixels apart: each view has its own detector's."""
    pixels = letterbox(load_image(people["barack_obama"][0]).pixels)
    yunet = [face.box for face in pipeline.live_detector.detect(
        pixels, LIVE_LONG_SIDE, live_threshold(pipeline.live_detector.score_threshold, LIVE_LONG_SIDE))]
    centerface = [face.box for face in pipeline.detector.detect(pixels)]
    assert len(yunet) == len(centerface) == 1 and yunet != centerface
    assert live_boxes(pipeline, gallery, pixels) == yunet
    assert live_boxes(pipeline, gallery, pixels, long_side=None) == centerface


def test_the_users_pc_moves_the_live_detector_by_as_much_from_its_own_default(pipeline):
    try:
        pipeline.configure(0.5, 0.4)  # CenterFace's default is 0.6: 0.1 laxer
        assert pipeline.detector.score_threshold == pytest.approx(0.5)
        assert pipeline.live_detector.score_threshold == pytest.approx(
            pipeline.live_detector.spec.defaults["score_threshold"] - 0.1)
        assert pipeline.live_detector.nms_threshold == pytest.approx(0.4)
    finally:
        pipeline.configure()
    assert pipeline.live_detector.score_threshold == pipeline.live_detector.spec.defaults["score_threshold"]


def test_centerface_may_run_live_too():
    pipeline = FacePipeline.load("cpu", live_detector="centerface")
    assert pipeline.live_detector is pipeline.detector


def test_an_unknown_live_detector_is_refused_clearly(tmp_path):
    with pytest.raises(ModelError, match="unknown live detector 'retinaface'; choose yunet-n or centerface"):
        FacePipeline.load("cpu", live_detector="retinaface")
    with pytest.raises(ValueError, match="the live detector must be yunet-n or centerface"):
        Settings(live_detector="retinaface").validated()
    assert resolve_settings({}, {"ONESHOT_LIVE_DETECTOR": "centerface"}, tmp_path / "none.json").live_detector \
        == "centerface"
    assert LIVE_DETECTORS[0] == "yunet-n"
