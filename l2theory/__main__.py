import sys

from l2theory.cli import main

sys.exit(main())
