"""Test harnesses and factories shared by the test modules (`from support.bots import ...`)."""
