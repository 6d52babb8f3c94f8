"""localwes: a local, single-user GA4GH Workflow Execution Service (WES 1.1)."""

__version__ = "0.1.0"
