"""The pgqrs schema and queries as plain SQL files; installed as the ``pgqrs.sql`` package so
``importlib.resources`` finds them in a wheel and in a source checkout alike."""
