"""What the Python ecosystem expects of the package: a wheel that carries the license, the
classifiers, `py.typed` for both packages and the console's stylesheet; and a constraints file
that pins every distribution the test and serve extras bring (CI and cron hosts install with it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)$")


def test_the_wheel_carries_license_metadata_and_type_markers(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    for package in ("console", "state"):
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", tmp_path, source],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("retention_console-*.whl")

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        license_text = archive.read(f"{info}/licenses/LICENSE").decode()

    assert {"console/py.typed", "state/py.typed", "console/ui/app.tcss"} <= names
    assert license_text.startswith("MIT License")
    assert metadata["License-Expression"] == "MIT"
    classifiers = metadata.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3.11" in classifiers
    requires = metadata.get_all("Requires-Dist") or []
    assert any(r.startswith("rich") for r in requires)  # imported directly, so declared
    assert any(r.startswith("textual-serve") and 'extra == "serve"' in r for r in requires)


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"constraints.txt: not a name==version pin: {line!r}"
        found[canonicalize_name(match[1])] = match[2]
    return found


def closure(name: str, extras: set[str], seen: set[str]) -> None:
    """Every distribution `name[extras]` needs, as installed here."""
    key = canonicalize_name(name)
    if key in seen:
        return
    seen.add(key)
    try:
        requirements = distribution(name).requires or []
    except PackageNotFoundError:
        return
    for text in requirements:
        requirement = Requirement(text)
        marker = requirement.marker
        if marker is None or any(marker.evaluate({"extra": e}) for e in extras or {""}):
            closure(requirement.name, set(requirement.extras), seen)


def test_constraints_pin_every_distribution_of_the_test_and_serve_extras() -> None:
    pinned = pins()
    needed: set[str] = set()
    closure("retention-console", {"test", "serve"}, needed)
    needed.discard("retention-console")
    assert "retention-console" not in pinned  # the project installs from its source
    assert len(needed) > 20
    assert sorted(needed - set(pinned)) == [], "run .ci/freeze-constraints"


def test_ci_installs_with_the_constraints() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install --quiet -c constraints.txt -e '.[test]'" in script
