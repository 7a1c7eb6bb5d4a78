"""The contract's version (`kind: contract_version`, specs/contract.yaml): the one place it is written.

`storyml gen` renders it into the crate's Cargo.toml and CONTRACT_VERSION, the Python package's
`__version__` and CONTRACT_VERSION; export writes it into every model's ONNX metadata under
`metadata_key`; `storyml predict` refuses a model of another major version; `storyml diff` fails
on a breaking change unless the major version went up or `acknowledged_breaking` names the
change's rule for the new version.

The version is not part of CONTRACT_FINGERPRINT (it says which contract this is, the fingerprint
says what it holds), so bumping it alone does not invalidate built models.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator, model_validator

from codegen.spec.breaking import BREAKING_RULES
from codegen.spec.errors import one_of
from codegen.spec.models import SpecModel

SEMVER = r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$"


@dataclass(frozen=True, order=True)
class Version:
    """MAJOR.MINOR.PATCH, ordered as semver orders release versions."""

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> Version:
        m = re.match(SEMVER, text)
        if m is None:
            raise ValueError(f"{text!r} is not a version MAJOR.MINOR.PATCH")
        return cls(int(m[1]), int(m[2]), int(m[3]))

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


# What a revision from before contract versions counts as (`storyml diff` against it).
UNVERSIONED = "0.0.0"


class Acknowledgement(SpecModel):
    """A breaking change shipped without a major bump, on purpose."""

    rule: str = Field(
        description="Id of the breaking rule the change breaks (`storyml diff --list-rules`)."
    )
    version: str = Field(pattern=SEMVER, description="The contract version that ships the change.")
    reason: str = Field(
        min_length=1, description="Why no major bump: who is affected, and why that is fine."
    )

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, v: str) -> str:
        if v not in BREAKING_RULES:
            raise ValueError(f"{v!r} is not a breaking rule {one_of(v, BREAKING_RULES)}")
        return v


class ContractVersionFile(SpecModel):
    kind: Literal["contract_version"]
    version: str = Field(
        pattern=SEMVER, description="The contract's semantic version, MAJOR.MINOR.PATCH."
    )
    metadata_key: str = Field(
        min_length=1,
        description="ONNX metadata_props key every exported model carries the version under.",
    )
    acknowledged_breaking: list[Acknowledgement] = Field(default_factory=list)

    @model_validator(mode="after")
    def _acknowledged_up_to_now(self) -> ContractVersionFile:
        for ack in self.acknowledged_breaking:
            if Version.parse(ack.version) > Version.parse(self.version):
                raise ValueError(
                    f"acknowledged_breaking: {ack.rule} for {ack.version}, after the version "
                    f"{self.version}"
                )
        return self

    @property
    def semver(self) -> Version:
        return Version.parse(self.version)

    def acknowledged(self, since: str) -> set[str]:
        """Rule ids acknowledged for this version, when it is not the version `since` had."""
        if self.version == since:
            return set()
        return {a.rule for a in self.acknowledged_breaking if a.version == self.version}
