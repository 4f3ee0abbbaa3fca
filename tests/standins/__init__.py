"""Test stand-ins: small programs that speak a real protocol where the real part cannot run in the tests."""
