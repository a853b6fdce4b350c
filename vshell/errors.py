"""One error hierarchy for vsh. Each class carries the exit status the CLI turns it into.

Only the CLI converts these into messages and exit statuses; the core raises them and never prints.
Messages are one clear line meant for a person; `detail` holds what `--debug` adds.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2
    VSH_FAILED = 125  # vsh itself failed: usage of `vsh run`, config, credential reference, sandbox, proxy
    REFUSED = 126  # policy refused: deny rule, declined prompt, approval needed with no one to ask


class VshError(Exception):
    """Base of every error vsh reports to a person."""

    exit_code: int = ExitCode.VSH_FAILED

    def __init__(self, message: str, *, detail: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.hint = hint


class UsageError(VshError):
    """The command line given to vsh is wrong (not the shell line it should judge)."""

    exit_code = ExitCode.USAGE


class ConfigError(VshError):
    """config.toml (or another state file) does not validate; names the file, key and line."""


class StateError(VshError):
    """A file under $VSH_HOME is unreadable or corrupt. It is reported, never replaced."""


class CredentialError(VshError):
    """An unknown credential reference, a bad template, or a vault that cannot be used."""


class SandboxUnavailable(VshError):
    """No working sandbox backend: the command is not run at all."""


class ProxyUnavailable(VshError):
    """The egress proxy could not be started or reached: the command is not run."""


class PolicyRefused(VshError):
    """A rule, a person or the lack of one refused the action."""

    exit_code = ExitCode.REFUSED
