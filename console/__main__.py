"""`python -m console`: the same command as the `retention-console` entry point, for a machine
where the scripts directory is not on PATH (a cron line can name the interpreter instead)."""

from console.cli import main

if __name__ == "__main__":  # pragma: no cover
    main(prog_name="retention-console")
