"""`python -m rayline.stack`: the stack CLI (`rayline.stack.cli`)."""

import sys

from rayline.stack.cli import main

if __name__ == "__main__":
    sys.exit(main())
