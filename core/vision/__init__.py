"""Seeing faces: images in, faces found, aligned, judged (live, condition) and embedded."""
