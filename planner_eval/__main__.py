import sys

from planner_eval.cli import main

sys.exit(main())
