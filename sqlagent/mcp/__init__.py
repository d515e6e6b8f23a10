"""sqlagent as a Model Context Protocol server, for AI agents (``server``)."""
