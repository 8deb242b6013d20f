"""`python -m helpline` is the `helpline` command."""

from .cli import main

if __name__ == "__main__":  # not when a child process (the archivers') imports it
    main()
