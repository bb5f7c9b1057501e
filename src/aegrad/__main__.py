import sys

from aegrad.cli import main

sys.exit(main())
