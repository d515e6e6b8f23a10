"""Where answers, feedback and verified examples are kept: the history (``history``) on a
local SQLite file or a shared SQLAlchemy database (``backends``)."""
