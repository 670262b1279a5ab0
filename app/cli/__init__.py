"""The `arena` command line: thin typer commands over services, stats and metrics."""
