"""Typed errors. Each carries the process exit code the CLI maps it to.

Exit codes: 0 ok, 1 a check failed, 2 bad input (usage, unknown env, invalid values,
missing tool, unreachable cluster) -- in the bad-input case nothing has been applied.
"""

from __future__ import annotations

from dataclasses import dataclass

EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2


class DeploytoolError(Exception):
    """Base of every error deploytool raises on purpose."""

    exit_code = EXIT_BAD_INPUT


class BadInput(DeploytoolError):
    """The user's input cannot be acted on (exit 2). Nothing was applied."""


class UnknownEnvironment(BadInput):
    pass


class ToolMissing(BadInput):
    """A required external binary (helm, kwokctl, ...) is not installed."""


class ClusterUnreachable(BadInput):
    """No cluster of that name, or it does not answer."""


class PreflightFailed(BadInput):
    """The cluster cannot hold what the environment asks for; nothing was applied."""

    def __init__(self, summary: str, details: list[str]) -> None:
        self.details = details
        super().__init__(summary)


class CheckFailed(DeploytoolError):
    """A verification or drill assertion failed (exit 1)."""

    exit_code = EXIT_CHECK_FAILED


class CommandFailed(DeploytoolError):
    """An external command (helm, kubectl, go) exited non-zero."""

    exit_code = EXIT_CHECK_FAILED

    def __init__(self, argv: list[str], returncode: int, output: str) -> None:
        self.argv = argv
        self.returncode = returncode
        self.output = output
        tail = output.strip().splitlines()[-1] if output.strip() else "(no output)"
        super().__init__(f"{argv[0]} {argv[1] if len(argv) > 1 else ''} exited {returncode}: {tail}")


@dataclass(frozen=True)
class Problem:
    """One validation problem: where in the values, which rule, what is wrong."""

    path: str
    message: str
    rule: str = "schema"

    def __str__(self) -> str:
        where = self.path or "(root)"
        return f"{where}: {self.message} [{self.rule}]"


class ValidationFailed(BadInput):
    def __init__(self, env: str, problems: list[Problem]) -> None:
        self.env = env
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the values for env '{env}'")
