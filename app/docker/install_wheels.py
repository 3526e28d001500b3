"""Install wheels into a directory without pip, network or compiler.

Runs inside the image build with only the base image's python3: a wheel is a
zip whose root (plus its .data/purelib and .data/platlib) is what belongs on
sys.path. Scripts and data files are not needed: the image runs
`python3 -m agent_platform`.
"""

import shutil
import sys
import zipfile
from pathlib import Path


def install(wheel: Path, target: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.infolist():
            parts = Path(member.filename).parts
            if parts[0].endswith(".data"):
                if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                    continue
                dest = target.joinpath(*parts[2:])
            else:
                dest = target.joinpath(*parts)
            if member.is_dir():
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)


def main() -> int:
    wheels, target = Path(sys.argv[1]), Path(sys.argv[2])
    found = sorted(wheels.glob("*.whl"))
    if not found:
        print(f"install_wheels: no wheels in {wheels}", file=sys.stderr)
        return 1
    for wheel in found:
        install(wheel, target)
    print(f"install_wheels: {len(found)} wheels into {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
