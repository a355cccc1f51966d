"""`python -m testsupport.demo` (what `make demo` and `mailmagnet demo` run)."""
import sys

from testsupport.demo import main

sys.exit(main())
