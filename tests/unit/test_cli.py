"""The command line registers its commands explicitly; none is left out or discovered."""

from __future__ import annotations

import pkgutil

from stepstones import cli, commands


def test_every_command_module_is_registered_by_name() -> None:
    modules = {info.name for info in pkgutil.iter_modules(commands.__path__)}
    assert {m.__name__.rsplit(".", 1)[1] for m in cli.COMMANDS} == modules
    assert all(callable(getattr(m, "register", None)) for m in cli.COMMANDS)
