"""Which Milvus version changes `deploytool upgrade` performs. Pure: each rule has a name and a reason.

Facts (sources in docs/upgrade.md):
* patch upgrades and downgrades within a minor are image changes (milvus-operator rolls them in its
  dependency order; the reverse order for a downgrade);
* 2.6 -> 3.0 is validated only from 2.6.20 (earlier 2.6 patches first move to a later 2.6 patch);
* going back from 3.0 to 2.6 by changing the image is not a supported procedure; deploytool does it
  only when asked (--allow-downgrade) and only to a 2.6 patch that can read what 3.0 wrote (>= 2.6.20);
* the message queue type must not change in an upgrade;
* a change of minor version changes metadata: etcd and the object-storage bucket are backed up first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from deploytool.render.versions import DEFAULT_TAG, MilvusVersion, release_of, support_problem

# (from minor, to minor) -> the lowest source patch validated for that minor change.
MINOR_PATHS: dict[tuple[tuple[int, int], tuple[int, int]], MilvusVersion] = {
    ((2, 6), (3, 0)): MilvusVersion(2, 6, 20),
}
# The lowest 2.6 patch a 3.0 -> 2.6 downgrade may target (only with --allow-downgrade).
DOWNGRADE_FLOORS: dict[tuple[int, int], MilvusVersion] = {(2, 6): MilvusVersion(2, 6, 20)}
BACKUP_WHAT = ("etcd metadata (an etcd snapshot of every key under the release's rootPath)",
               "the object-storage bucket (segments, indexes, WAL)")


@dataclass(frozen=True)
class Finding:
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "message": self.message}

    def __str__(self) -> str:
        return f"{self.message} [{self.rule}]"


@dataclass
class PathVerdict:
    direction: str  # "upgrade" | "downgrade" | "none" (nothing to change) | "unknown"
    minor_change: bool = False
    problems: list[Finding] = field(default_factory=list)
    reason: str = ""  # the rule that allows it, in words


def hop_tag(floor: MilvusVersion) -> str:
    """The 2.6 patch to move to first: the chart's default tag when it is at or above the floor."""
    default = release_of(DEFAULT_TAG)
    return DEFAULT_TAG if default and default.minor_line == floor.minor_line and default >= floor else str(floor)


def judge(from_tag: str, to_tag: str, *, allow_downgrade: bool = False, backup_done: bool = False,
          env: str = "ENV") -> PathVerdict:
    """The verdict on changing a release from from_tag to to_tag."""
    problems: list[Finding] = []
    unsupported = support_problem(to_tag)
    if unsupported:
        problems.append(Finding("target-supported", f"--to {to_tag}: {unsupported}"))
    source, target = release_of(from_tag), release_of(to_tag)
    if source is None:
        problems.append(Finding("source-known", f"the release runs '{from_tag}', which is not a Milvus release tag; "
                                                "deploytool cannot tell which upgrade path applies"))
    if source is None or target is None:
        return PathVerdict("unknown", False, problems)
    if from_tag == to_tag:
        return PathVerdict("none", False, problems, "already on the target tag")
    direction = "downgrade" if target < source else "upgrade"
    if source.minor_line == target.minor_line:
        reason = (f"patch {direction} within {target.major}.{target.minor}: an image change, rolled in "
                  + ("dependency order" if direction == "upgrade" else "reverse dependency order"))
        return PathVerdict(direction, False, problems, reason)
    verdict = PathVerdict(direction, True, problems)
    if direction == "upgrade":
        floor = MINOR_PATHS.get((source.minor_line, target.minor_line))
        if floor is None:
            problems.append(Finding("minor-upgrade-path", f"no validated upgrade path from {source} to {target}"))
        elif source < floor:
            hop = hop_tag(floor)
            problems.append(Finding("minor-upgrade-path", (
                f"{source} -> {target} is validated only from {floor}; upgrade to {hop} first "
                f"(deploytool upgrade --env {env} --to {hop}), then to {to_tag}")))
        verdict.reason = f"minor upgrade {source.major}.{source.minor} -> {target.major}.{target.minor} from >= {floor}"
    else:
        floor = DOWNGRADE_FLOORS.get(target.minor_line)
        if not allow_downgrade:
            problems.append(Finding("minor-downgrade", (
                f"{source} -> {target} goes back a minor version: what {source.major}.{source.minor} wrote to etcd "
                "and object storage may not be readable by the older release, and an image rollback is not a "
                "supported procedure; restore the backup taken before the upgrade, or pass --allow-downgrade")))
        elif floor is None or target < floor:
            least = f"to >= {floor}" if floor else "to this minor"
            problems.append(Finding("minor-downgrade", f"a downgrade from {source} is allowed only {least}, "
                                                       f"not to {target}"))
        verdict.reason = (f"minor downgrade {source.major}.{source.minor} -> {target.major}.{target.minor} "
                          "(--allow-downgrade)")
    if not backup_done:
        problems.append(Finding("backup-before-minor-change", (
            f"{source} -> {target} changes the minor version; back up " + " and ".join(BACKUP_WHAT)
            + ", then pass --backup-done")))
    return verdict
