"""hal's device backends (installed as ``hal.backends``): one driver per device family."""
