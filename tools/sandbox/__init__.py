"""Sandboxes: run untrusted solutions in isolation, judge their outputs on the host.

`get_sandbox(config)` builds the configured backend; backends are imported lazily so the E2B SDK
is only needed when it is used.
"""

from __future__ import annotations

from stepstones.tools.sandbox.base import E2BConfig, Sandbox, SandboxConfig, Submission


def get_sandbox(config: SandboxConfig | None = None) -> Sandbox:
    """The backend `config.backend` names ("local" or "e2b"), configured from `config`."""
    config = config or SandboxConfig()
    if config.backend == "local":
        from stepstones.tools.sandbox.local import LocalSandbox

        return LocalSandbox(config)
    if config.backend == "e2b":
        from stepstones.tools.sandbox.e2b import E2BSandbox

        return E2BSandbox(config)
    raise ValueError(f"unknown sandbox backend {config.backend!r}; choose 'local' or 'e2b'")


__all__ = ["E2BConfig", "Sandbox", "SandboxConfig", "Submission", "get_sandbox"]
