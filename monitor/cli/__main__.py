"""``python -m monitor.cli``."""

from monitor.cli import main

raise SystemExit(main())
