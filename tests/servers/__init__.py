"""Real HTTP servers on loopback that speak the protocols the app talks to.

They are test doubles at the network boundary only: the code under test uses
its real HTTP clients (requests, httpx, google-auth) against them.
"""
