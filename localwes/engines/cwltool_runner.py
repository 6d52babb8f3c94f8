"""`python -m localwes.engines.cwltool_runner ARGS...`: cwltool, exit status kept.

`python -m cwltool` drops cwltool's exit status (its __main__ ignores what
run() returns), which would turn every failed workflow into a success. This
entry point runs the same code and exits with cwltool's real status; it is
also where localwes hooks into cwltool in-process.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from cwltool.main import run

    status: int = run(argv)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
