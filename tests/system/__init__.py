"""System tests: the bot as a real subprocess, driven through its console."""
