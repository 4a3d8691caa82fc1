"""Icons, the sample frame and other files the app reads at run time.

A package only so that every install (wheel, editable, frozen) carries these files; it
holds no code.
"""
