"""Tickets, clerks, the routing policy, SLA statistics and the queue backends.

The routing core (:mod:`queueing.routing`) is pure: it does no I/O and takes the
time as an argument, so it runs the same live, in tests and in a simulation.
"""
