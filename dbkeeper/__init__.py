"""dbkeeper: backup and restore for Django and PostgreSQL that keeps track of
the person who started it, whatever happens to their login session."""

__version__ = "0.1.0"
