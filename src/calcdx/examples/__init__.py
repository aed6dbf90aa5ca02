"""Example cases bundled with calcdx (case-format JSON)."""
