"""Chip geometry: the similarity fit, where landmarks land, and anti-aliased shrinking."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from core.vision.align import align_face, chip_landmarks, similarity_transform, warp_chip
from core.vision.imaging import load_image


def test_similarity_transform_recovers_a_known_transform():
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    source = np.random.default_rng(0).uniform(0, 100, (5, 2))
    target = source @ rotation.T + shift
    matrix = similarity_transform(source, target)
    assert matrix[:, :2] == pytest.approx(rotation)
    assert matrix[:, 2] == pytest.approx(shift)


def test_similarity_transform_needs_two_pairs():
    with pytest.raises(ValueError):
        similarity_transform(np.zeros((1, 2)), np.zeros((1, 2)))


def test_chip_puts_the_landmarks_at_the_mean_face_positions(pipeline, people):
    image = load_image(people["barack_obama"][0])
    face = pipeline.detect(image.pixels)[0]
    matrix = similarity_transform(face.landmark_array(), chip_landmarks())
    mapped = np.c_[face.landmark_array(), np.ones(5)] @ matrix.T
    # a similarity cannot fit five points exactly, but a face is close to the mean face
    assert np.abs(mapped - chip_landmarks()).max() < 8
    chip = align_face(image.pixels, face.landmark_array())
    assert chip.shape == (150, 150, 3) and chip.dtype == np.uint8


def test_shrinking_does_not_alias():
    """A fine stripe pattern shrunk 8x must come out as its average grey, not as stripes."""
    stripes = np.zeros((1200, 1200, 3), np.uint8)
    stripes[:, ::2] = 255
    matrix = np.array([[1 / 8, 0, 0], [0, 1 / 8, 0]])
    chip = warp_chip(stripes, matrix, 150)
    assert chip[10:140, 10:140].std() < 3
    assert abs(chip[10:140, 10:140].mean() - 127.5) < 3
    naive = cv2.warpAffine(stripes, matrix, (150, 150), flags=cv2.INTER_LINEAR)
    assert abs(naive[10:140, 10:140].mean() - 127.5) > 50  # plain bilinear sampling aliases


def test_shrunk_chip_keeps_geometry():
    """The pyramid path and direct sampling agree on a smooth image."""
    yy, xx = np.mgrid[0:900, 0:900]
    smooth = np.dstack([(xx / 900 * 255), (yy / 900 * 255), np.full_like(xx, 128.0)]).astype(np.uint8)
    matrix = np.array([[0.2, -0.02, -8.0], [0.02, 0.2, -14.0]])  # chip lies inside the image
    shrunk = warp_chip(smooth, matrix, 150).astype(float)
    direct = cv2.warpAffine(smooth, matrix, (150, 150), flags=cv2.INTER_LINEAR).astype(float)
    assert np.abs(shrunk[5:-5, 5:-5] - direct[5:-5, 5:-5]).max() < 3
