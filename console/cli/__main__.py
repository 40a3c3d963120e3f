"""`python -m console.cli`: the same command as the `retention-console` entry point."""

from console.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
