"""`python -m localwes` is the `localwes` command."""

from localwes.cli import main

raise SystemExit(main())
