"""Harness for the kernel end-to-end suite: scoped cgroups, loopback servers, real clients, the
agent under test and a leak scanner for the synthetic secrets the tests create."""
