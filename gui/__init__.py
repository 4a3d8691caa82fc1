"""The PySide6 desktop app. Only this package may import Qt; it talks to ``core`` through
worker objects on QThreads. (The windows arrive with the desktop-app issue.)"""
