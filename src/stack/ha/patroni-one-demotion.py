#!/usr/bin/python3
# Starts Debian's Patroni 3.0.2 with one change: a primary that lost the DCS
# demotes itself once, not twice at the same time.
#
# Why: a primary cut off from the network stops PostgreSQL in the background
# (demote 'offline'), and that stop lasts as long as the cut (the WAL senders
# wait for standbys they cannot reach). The next HA loop, a second later,
# still cannot reach the DCS, finds the background worker busy and demotes
# again from the main loop. Both then start PostgreSQL on the same data
# directory; the loser's start and the winner's pg_rewind trip over each other
# (measured here: "lock file postmaster.pid already exists" or "could not find
# previous WAL record"), the rewind fails, and Patroni removes the data and
# clones the node again. A known race of Patroni (docs/ha.md links the
# upstream report); the Debian package we install, 3.0.2, has it.
#
# The change: while that very demotion runs in the background, the main loop
# does not start another one. Every other demotion, and this one once the
# background run has ended, goes through unchanged.

import inspect
import sys
import threading

from patroni import ha
from patroni.__main__ import main

# The action name Patroni gives the background demotion (ha.py, _handle_dcs_error).
DCS_DEMOTION = 'demoting self because DCS is not accessible and I was a leader'

if DCS_DEMOTION not in inspect.getsource(ha.Ha._handle_dcs_error):
    sys.exit(f'patroni-one-demotion: this Patroni does not name its DCS demotion "{DCS_DEMOTION}"; '
             'the change would do nothing: check whether this version still needs it')

demote = ha.Ha.demote


def demote_once(self, mode):
    in_background = self._async_executor.scheduled_action == DCS_DEMOTION
    if mode == 'offline' and in_background and threading.current_thread() is threading.main_thread():
        ha.logger.warning('not demoting again: the demotion after losing the DCS is still running in the background')
        return None
    return demote(self, mode)


ha.Ha.demote = demote_once

if __name__ == '__main__':
    sys.exit(main())
