"""`python -m mlgate` runs the same command line as `mlgate`."""

from mlgate.cli import run

if __name__ == "__main__":
    run()
