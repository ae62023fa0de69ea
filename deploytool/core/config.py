"""Per-environment deployment coordinates shared by every command."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_RELEASE = "milvus"


@dataclass(frozen=True)
class Target:
    env: str
    release: str = DEFAULT_RELEASE

    @property
    def namespace(self) -> str:
        return f"milvus-{self.env}"

    @property
    def secret_name(self) -> str:
        # the chart's default credentials Secret name: <fullname>-credentials
        return f"{self.fullname}-credentials"

    @property
    def fullname(self) -> str:
        return self.release if "milvus" in self.release else f"{self.release}-milvus"
