"""Print the README's set-up commands, one per line: the first ```bash block under "## Set up".

`.ci/run` runs exactly these lines, so CI proves the commands a new user copies, not a copy of them.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def setup_commands(readme: str) -> list[str]:
    section = readme.split("\n## Set up\n", 1)
    if len(section) != 2:
        raise SystemExit("README.md has no '## Set up' section")
    block = re.search(r"```bash\n(.*?)\n```", section[1].split("\n## ", 1)[0], re.DOTALL)
    if block is None:
        raise SystemExit("README.md's Set up section has no ```bash block")
    return [line for line in block[1].splitlines() if line.strip() and not line.lstrip().startswith("#")]


if __name__ == "__main__":
    print("\n".join(setup_commands(Path(sys.argv[1] if len(sys.argv) > 1 else "README.md").read_text("utf-8"))))
