"""Tests that open what the harness writes (the HTML report) in a real headless browser."""
