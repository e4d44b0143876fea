import sys

from sweepnet.cli import main

sys.exit(main())
