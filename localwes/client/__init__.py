"""The `localwes` client commands: a WES client for the terminal."""
