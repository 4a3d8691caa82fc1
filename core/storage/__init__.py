"""Where people are kept: the gallery (SQLite file or PostgreSQL server), its sealing, keys, history and archives."""
